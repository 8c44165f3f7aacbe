module github.com/titanlb/titanlb

go 1.26.8

require github.com/twmb/murmur3 v1.2.2

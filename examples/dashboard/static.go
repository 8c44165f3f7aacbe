package main

import (
	"embed"
	"io/fs"
	"net/http"
)

// assets are the page, its script and its style sheet: everything the page
// loads, so that it needs no network beyond this server.
//
//go:embed static
var assets embed.FS

// staticHandler serves the embedded assets at the root: / is index.html.
func staticHandler() http.Handler {
	sub, err := fs.Sub(assets, "static")
	if err != nil { // "static" is a constant, valid path: cannot happen
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "dashboard: assets: "+err.Error(), http.StatusInternalServerError)
		})
	}
	return http.FileServerFS(sub)
}

package study

import "math"

// tQuantile returns the p quantile (0.5 < p < 1) of Student's t
// distribution with df degrees of freedom: t such that P(T <= t) = p.
// For t > 0, P(T > t) = I_x(df/2, 1/2) / 2 with x = df/(df+t²), where I
// is the regularized incomplete beta function; the quantile solves that
// for x by bisection (I_x is increasing in x).
func tQuantile(p float64, df int) float64 {
	if df < 1 || !(p > 0.5 && p < 1) {
		return math.NaN()
	}
	a, b := float64(df)/2, 0.5
	target := 2 * (1 - p)
	lo, hi := 0.0, 1.0
	for range 200 {
		mid := (lo + hi) / 2
		if incBeta(mid, a, b) < target {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo < 1e-15 {
			break
		}
	}
	x := (lo + hi) / 2
	return math.Sqrt(float64(df) * (1 - x) / x)
}

// incBeta is the regularized incomplete beta function I_x(a, b), by its
// continued fraction (modified Lentz), using the symmetry
// I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges slowly.
func incBeta(x, a, b float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(a*math.Log(x) + b*math.Log(1-x) - la - lb + lab)
	if x > (a+1)/(a+b+2) {
		return 1 - front*betaFraction(1-x, b, a)/b
	}
	return front * betaFraction(x, a, b) / a
}

// betaFraction evaluates the continued fraction of I_x(a, b) by the
// modified Lentz method: each term m contributes an even and an odd
// coefficient.
func betaFraction(x, a, b float64) float64 {
	const tiny = 1e-300
	nonzero := func(v float64) float64 {
		if math.Abs(v) < tiny {
			return tiny
		}
		return v
	}
	c, d := 1.0, 1/nonzero(1-(a+b)*x/(a+1))
	f := d
	// step applies one coefficient and returns the factor it changed f by.
	step := func(num float64) float64 {
		d = 1 / nonzero(1+num*d)
		c = nonzero(1 + num/c)
		f *= d * c
		return d * c
	}
	for m := 1; m <= 500; m++ {
		fm := float64(m)
		step(fm * (b - fm) * x / ((a + 2*fm - 1) * (a + 2*fm)))
		if delta := step(-(a + fm) * (a + b + fm) * x / ((a + 2*fm) * (a + 2*fm + 1))); math.Abs(delta-1) < 1e-15 {
			break
		}
	}
	return f
}

package hfhub

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// quantity suffixes, as Kubernetes (and so Flyte's resource requests) spell them.
var suffixes = map[string]*big.Rat{
	"":   big.NewRat(1, 1),
	"m":  big.NewRat(1, 1000),
	"k":  big.NewRat(1000, 1),
	"M":  new(big.Rat).SetInt64(1e6),
	"G":  new(big.Rat).SetInt64(1e9),
	"T":  new(big.Rat).SetInt64(1e12),
	"P":  new(big.Rat).SetInt64(1e15),
	"E":  new(big.Rat).SetInt64(1e18),
	"Ki": new(big.Rat).SetInt64(1 << 10),
	"Mi": new(big.Rat).SetInt64(1 << 20),
	"Gi": new(big.Rat).SetInt64(1 << 30),
	"Ti": new(big.Rat).SetInt64(1 << 40),
	"Pi": new(big.Rat).SetInt64(1 << 50),
	"Ei": new(big.Rat).SetInt64(1 << 60),
}

// parseQuantity reads a Kubernetes quantity ("50Gi", "8G", "1.5Gi", "500m", "2", "1e9") into
// an exact rational, refusing negative values.
func parseQuantity(s string) (*big.Rat, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.' || t[i] == '+') {
		i++
	}
	num, suf := t[:i], t[i:]
	mult, ok := suffixes[suf]
	if !ok && len(suf) > 1 && (suf[0] == 'e' || suf[0] == 'E') {
		// A decimal exponent: "1e9", "5E3".
		digits := strings.TrimPrefix(suf[1:], "+")
		if exp, err := strconv.Atoi(digits); err == nil && digits != "" && digits[0] != '-' && exp <= 18 {
			mult, ok = new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp)), nil)), true
		}
	}
	if num == "" || strings.Count(num, ".") > 1 || strings.Count(num, "+") > 1 || strings.LastIndex(num, "+") > 0 || !ok {
		return nil, fmt.Errorf("%q is not a quantity (a number with an optional suffix: m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei)", s)
	}
	v, ok := new(big.Rat).SetString(strings.TrimPrefix(num, "+"))
	if !ok {
		return nil, fmt.Errorf("%q is not a quantity", s)
	}
	return v.Mul(v, mult), nil
}

// ParseBytes reads a size quantity ("50Gi", "8G", "1.5Gi", "1000") into bytes, rounding a
// fraction of a byte up. It refuses values past the int64 range.
func ParseBytes(s string) (int64, error) {
	v, err := parseQuantity(s)
	if err != nil {
		return 0, err
	}
	n := new(big.Int).Quo(v.Num(), v.Denom())
	if new(big.Rat).SetInt(n).Cmp(v) < 0 {
		n.Add(n, big.NewInt(1))
	}
	if !n.IsInt64() {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n.Int64(), nil
}

// ParseCPU reads a CPU quantity ("2", "500m", "1.5") into millicores, rounding up.
func ParseCPU(s string) (int64, error) {
	v, err := parseQuantity(s)
	if err != nil {
		return 0, err
	}
	v.Mul(v, big.NewRat(1000, 1))
	n := new(big.Int).Quo(v.Num(), v.Denom())
	if new(big.Rat).SetInt(n).Cmp(v) < 0 {
		n.Add(n, big.NewInt(1))
	}
	if !n.IsInt64() || n.Int64() > math.MaxInt32 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n.Int64(), nil
}

// FormatBytes writes n bytes for a person: "1.5 GiB", "512 B".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

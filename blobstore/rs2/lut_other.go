//go:build !amd64 || noasm || appengine || gccgo || nopshufb

package rs2

// dropUnusedTables does nothing here: klauspost/reedsolomon multiplies with
// its pure-Go table on this platform (see lut_amd64.go).
func dropUnusedTables() {}

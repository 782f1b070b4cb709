// Package pyfmt prints values as Python's repr() does, so that the examples
// print exactly what their asyncio originals print.
package pyfmt

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Repr returns Python's repr() of the str s: single quotes unless s holds a
// single quote and no double quote, with Python's escapes.
func Repr(s string) string {
	quote := byte('\'')
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for i, w := 0, 0; i < len(s); i += w {
		r, width := utf8.DecodeRuneInString(s[i:])
		w = width
		switch {
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == utf8.RuneError && width == 1:
			// Python would have failed to decode; show the byte.
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		case !unicode.IsPrint(r) && r > 0x7f:
			switch {
			case r <= 0xff:
				fmt.Fprintf(&b, `\x%02x`, r)
			case r > 0xffff:
				fmt.Fprintf(&b, `\U%08x`, r)
			default:
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(quote)
	return b.String()
}

// Addr returns Python's repr() of a socket address as asyncio's
// get_extra_info('peername') and getsockname() give it: ('127.0.0.1', 8888)
// for IPv4, ('::1', 8888, 0, 0) for IPv6, and the path for Unix sockets.
func Addr(a net.Addr) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		ap := a.AddrPort()
		ip := ap.Addr()
		if ip.Is4() || ip.Is4In6() {
			return "(" + Repr(ip.Unmap().String()) + ", " + strconv.Itoa(int(ap.Port())) + ")"
		}
		scope := 0
		if z := ip.Zone(); z != "" {
			if ifi, err := net.InterfaceByName(z); err == nil {
				scope = ifi.Index
			}
		}
		return "(" + Repr(ip.WithZone("").String()) + ", " + strconv.Itoa(int(ap.Port())) + ", 0, " + strconv.Itoa(scope) + ")"
	case *net.UnixAddr:
		return Repr(a.Name)
	case nil:
		return "None"
	}
	return Repr(a.String())
}

// DecodeUTF8 returns b as a str, as Python's bytes.decode() does, or the
// error Python's UnicodeDecodeError would carry, with its message, for the
// first byte sequence that is not UTF-8.
func DecodeUTF8(b []byte) (string, error) {
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			i++
			continue
		}
		n, lo, hi := 0, byte(0x80), byte(0xbf) // length, and the second byte's range
		switch {
		case c >= 0xc2 && c <= 0xdf:
			n = 2
		case c == 0xe0:
			n, lo = 3, 0xa0
		case c >= 0xe1 && c <= 0xef:
			n = 3
			if c == 0xed {
				hi = 0x9f // not a surrogate
			}
		case c == 0xf0:
			n, lo = 4, 0x90
		case c >= 0xf1 && c <= 0xf3:
			n = 4
		case c == 0xf4:
			n, hi = 4, 0x8f
		default:
			return "", decodeError(b, i, i+1, "invalid start byte")
		}
		for k := 1; k < n; k++ {
			if i+k >= len(b) {
				return "", decodeError(b, i, len(b), "unexpected end of data")
			}
			if x := b[i+k]; (k == 1 && (x < lo || x > hi)) || (k > 1 && (x < 0x80 || x > 0xbf)) {
				return "", decodeError(b, i, i+k, "invalid continuation byte")
			}
		}
		i += n
	}
	return string(b), nil
}

// decodeError is UnicodeDecodeError's message for b[start:end].
func decodeError(b []byte, start, end int, reason string) error {
	if end-start == 1 {
		return fmt.Errorf("UnicodeDecodeError: 'utf-8' codec can't decode byte 0x%02x in position %d: %s", b[start], start, reason)
	}
	return fmt.Errorf("UnicodeDecodeError: 'utf-8' codec can't decode bytes in position %d-%d: %s", start, end-1, reason)
}

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

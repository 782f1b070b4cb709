//go:build unix && (!linux || mips || mipsle || mips64 || mips64le || sparc64)

package listener

// soReusePort is not known here: WithReusePort(true) fails.
const soReusePort = -1

package chanstream

// pumpMembers reports how many members s's pump group has: the read and
// write pumps running, and a read call reading the socket itself.
func pumpMembers(s *Stream) int { return s.pumps.Running() }

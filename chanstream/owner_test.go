package chanstream

import (
	"fmt"
	"os"
	"regexp"
	"testing"
)

// The table in sockOwner's doc comment lists exactly the moves sockOwner.to
// allows, so that the doc cannot drift from the code.
func TestSockOwner_DocTableIsTheMovesAllowed(t *testing.T) {
	src, err := os.ReadFile("owner.go")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]ownerState{}
	for st := range ownerStates {
		byName[st.String()] = st
	}
	row := regexp.MustCompile(`(?m)^//\t([a-z-]+) +([a-z-]+) +[a-zA-Z']`)
	var documented [ownerStates]uint8
	for _, m := range row.FindAllStringSubmatch(string(src), -1) {
		from, ok1 := byName[m[1]]
		to, ok2 := byName[m[2]]
		if !ok1 || !ok2 {
			continue // the header, or the "any but inline" row of beginLocked
		}
		documented[from] |= 1 << to
	}
	for from := range ownerStates {
		for to := range ownerStates {
			doc, code := documented[from]&(1<<to) != 0, ownerMoves[from]&(1<<to) != 0
			if doc != code {
				t.Errorf("%v → %v: in the doc table %v, allowed by to %v", from, to, doc, code)
			}
		}
	}
}

// A move the table does not allow panics; one it allows changes the state,
// and leaving the pump's states clears the pump's flags.
func TestSockOwner_ToHoldsToTheTable(t *testing.T) {
	for from := range ownerStates {
		for to := range ownerStates {
			t.Run(fmt.Sprintf("%v→%v", from, to), func(t *testing.T) {
				o := &sockOwner{state: from, flags: ownerParked | ownerWaiting}
				allowed := ownerMoves[from]&(1<<to) != 0
				defer func() {
					if r := recover(); (r != nil) == allowed {
						t.Fatalf("allowed %v, recover() = %v", allowed, r)
					}
				}()
				o.to(to)
				if o.state != to {
					t.Fatalf("state %v after to(%v)", o.state, to)
				}
				pumps := to == ownerPump || to == ownerHandOff
				if kept := o.has(ownerParked | ownerWaiting); kept != pumps {
					t.Fatalf("pump flags kept %v moving to %v", kept, to)
				}
			})
		}
	}
}

func TestOwnerState_String(t *testing.T) {
	if got := ownerHandOff.String(); got != "hand-off" {
		t.Errorf("ownerHandOff = %q", got)
	}
	if got := ownerStates.String(); got != "ownerState(6)" {
		t.Errorf("ownerStates = %q", got)
	}
}

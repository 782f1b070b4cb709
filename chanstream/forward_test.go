package chanstream

import (
	"reflect"
	"testing"
)

// Every method of Reader and Writer is on Stream too, with the same
// signature, as Stream's doc says, except Buffered, which both halves have,
// and Feed, since a stream's connection feeds its reader.
func TestStream_HasEveryMethodOfItsHalves(t *testing.T) {
	stream := reflect.TypeFor[*Stream]()
	for _, half := range []reflect.Type{reflect.TypeFor[*Reader](), reflect.TypeFor[*Writer]()} {
		for i := range half.NumMethod() {
			m := half.Method(i)
			if m.Name == "Buffered" || m.Name == "Feed" {
				continue
			}
			sm, ok := stream.MethodByName(m.Name)
			if !ok {
				t.Errorf("%v.%s is not on Stream", half, m.Name)
				continue
			}
			// Compare without the receivers.
			want, got := m.Type, sm.Type
			if want.NumIn() != got.NumIn() || want.NumOut() != got.NumOut() || want.IsVariadic() != got.IsVariadic() {
				t.Errorf("Stream.%s is %v; %v's is %v", m.Name, got, half, want)
				continue
			}
			for j := 1; j < want.NumIn(); j++ {
				if want.In(j) != got.In(j) {
					t.Errorf("Stream.%s is %v; %v's is %v", m.Name, got, half, want)
				}
			}
			for j := range want.NumOut() {
				if want.Out(j) != got.Out(j) {
					t.Errorf("Stream.%s is %v; %v's is %v", m.Name, got, half, want)
				}
			}
		}
	}
	if _, ok := stream.MethodByName("Buffered"); ok {
		t.Error("Stream has a Buffered: which half's would it be?")
	}
	if _, ok := stream.MethodByName("Feed"); ok {
		t.Error("Stream has a Feed, which could only fail")
	}
}

func TestStream_LimitIsTheReaders(t *testing.T) {
	s, _ := streamPair(t, WithLimit(1234))
	if s.Limit() != 1234 || s.Reader().Limit() != 1234 {
		t.Fatalf("Limit = %d, Reader().Limit = %d; want 1234", s.Limit(), s.Reader().Limit())
	}
}

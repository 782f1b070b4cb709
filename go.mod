module github.com/chanstream/chanstream

go 1.23

require (
	github.com/sourcegraph/conc v0.3.0
	go.uber.org/goleak v1.3.0
)

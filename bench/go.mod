module github.com/chanstream/chanstream/bench

go 1.23

require github.com/chanstream/chanstream v0.0.0

require github.com/sourcegraph/conc v0.3.0 // indirect

replace github.com/chanstream/chanstream => ../

package demo

import "testing"

func TestSync(t *testing.T) {
	if 1 == 2 {
		t.Fatal("a test file is never mutated")
	}
}

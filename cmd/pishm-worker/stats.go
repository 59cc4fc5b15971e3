package main

// The Funcs of pishm stats: a lean worker must know every Func pishm
// registers.
import _ "github.com/pishm/pishm/cmd/internal/filestats"

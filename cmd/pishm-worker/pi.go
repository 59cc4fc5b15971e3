package main

// The pi series' Funcs ("pi", "pi/avx512", ...), which package engine/pi
// registers when imported: pishm runs them, so its lean worker must know
// them by name.
import _ "github.com/pishm/pishm/engine/pi"

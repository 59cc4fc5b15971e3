// Package layers holds no code: its test checks that the repository's
// packages import only packages below them, in the order docs/layout.md
// gives, so that the layers a newcomer reads there are the ones
// the code has.
package layers

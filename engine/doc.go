// Package engine holds the words of Opsbook's design as types: flows, cells,
// runs, statuses and run events. It imports only the standard library.
package engine

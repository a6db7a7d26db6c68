package interop

var pending = []tcase{}

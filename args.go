package main

import "strings"

// valueFlags are the flags that take a value, across all commands. urfave/cli
// stops reading flags at the first argument, so `jobrun local train.yaml
// --set a=b` would lose the flag; reorderArgs moves every flag of the
// command (with its value) before the positional arguments.
var valueFlags = map[string]bool{
	"name": true, "output": true, "o": true, "set": true, "env": true, "e": true,
	"profile": true, "endpoint-url": true, "cache-dir": true, "compression": true, "host": true, "docker-socket": true,
	"remote-dir": true, "agent-binary": true, "on-interrupt": true, "from": true, "older-than": true,
}

func reorderArgs(args []string) []string {
	if len(args) < 3 {
		return args
	}
	head := []string{args[0]}
	i := 1
	for i < len(args) && strings.HasPrefix(args[i], "-") { // global flags
		head = append(head, args[i])
		i++
	}
	if i >= len(args) || args[i] == "agent" { // agent subcommands take their arguments as given
		return args
	}
	head = append(head, args[i]) // the command
	var flags, pos []string
	rest := args[i+1:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		switch {
		case a == "--":
			pos = append(pos, rest[j:]...)
			j = len(rest)
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if valueFlags[name] && !strings.Contains(name, "=") && j+1 < len(rest) {
				flags = append(flags, rest[j+1])
				j++
			}
		default:
			pos = append(pos, a)
		}
	}
	return append(append(head, flags...), pos...)
}

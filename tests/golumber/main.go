// Command golumber is a Lumberjack v2 ("beats") peer built on
// github.com/elastic/go-lumber, the library used by Filebeat's Logstash
// output. The integration tests run it as an independent client (send),
// server (serve) and certificate generator (gencerts).
package main

import (
	"fmt"
	"log"
	"os"

	ljlog "github.com/elastic/go-lumber/log"
)

const usage = `usage: golumber <command> [flags]

commands:
  send      send numbered events with go-lumber client/v2 (SyncClient/AsyncClient)
  serve     receive events with go-lumber server/v2 and print them as JSON lines
  gencerts  write a throwaway CA plus server and client certificates (PEM)

Run "golumber <command> -h" for the flags of a command.
`

// logger writes progress and errors to stderr; stdout is reserved for
// machine-readable JSON lines.
var logger = log.New(os.Stderr, "golumber: ", log.LstdFlags|log.Lmicroseconds)

type libLogger struct{ l *log.Logger }

func (g libLogger) Printf(format string, args ...interface{}) { g.l.Printf(format, args...) }
func (g libLogger) Println(args ...interface{})               { g.l.Println(args...) }
func (g libLogger) Print(args ...interface{})                 { g.l.Print(args...) }

func main() {
	// go-lumber logs through the standard logger; keep it on stderr, tagged.
	ljlog.Logger = libLogger{log.New(os.Stderr, "go-lumber: ", log.LstdFlags|log.Lmicroseconds)}

	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	args := os.Args[2:]
	var code int
	switch os.Args[1] {
	case "send":
		code = runSend(args)
	case "serve":
		code = runServe(args)
	case "gencerts":
		code = runGencerts(args)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(os.Stdout, usage)
	default:
		fmt.Fprintf(os.Stderr, "golumber: unknown command %q\n\n%s", os.Args[1], usage)
		code = 2
	}
	os.Exit(code)
}

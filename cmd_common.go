package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/awsconfig"
	"github.com/jobrun/jobrun/channels"
	"github.com/jobrun/jobrun/exitcode"
	"github.com/jobrun/jobrun/spec"
)

// specFlags are the overrides every command that reads a spec accepts.
func specFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "name", Usage: "the job name, used as is (default: the spec's name plus a timestamp and a random suffix)"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where run directories go (overrides output.uri)"},
		&cli.StringSliceFlag{Name: "set", Usage: "override a spec value, e.g. --set hyperparameters.lr=0.1 (repeatable)"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "add an environment variable K=V (repeatable)"},
	}
}

// awsFlags configure S3 access; the AWS SDK's environment and config files
// apply too (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL_S3, ~/.aws/config).
func awsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "profile", Usage: "AWS profile for S3 (default: $AWS_PROFILE or the default profile)"},
		&cli.StringFlag{Name: "endpoint-url", Usage: "S3 endpoint, e.g. http://127.0.0.1:9000 for MinIO (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL)"},
	}
}

func awsOptions(c *cli.Context) awsconfig.Options {
	return awsconfig.Options{Profile: c.String("profile"), Endpoint: c.String("endpoint-url")}
}

// cacheDir is jobrun's cache folder: downloaded inputs and runs staged
// for an S3 output.
func cacheDir(c *cli.Context) (string, error) {
	if d := c.String("cache-dir"); d != "" {
		return filepath.Abs(d)
	}
	if d := os.Getenv("JOBRUN_CACHE_DIR"); d != "" {
		return filepath.Abs(d)
	}
	return channels.DefaultCacheDir()
}

var cacheDirFlag = &cli.StringFlag{Name: "cache-dir", Usage: "jobrun's cache folder (default: $JOBRUN_CACHE_DIR or ~/.cache/jobrun)"}

var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print results as JSON, one object per line"}

// loadSpec reads the single SPEC argument with the command line's overrides.
func loadSpec(c *cli.Context) (*spec.Spec, error) {
	if c.NArg() != 1 {
		return nil, exitcode.Usagef("%s needs exactly one SPEC argument (got %d)", c.Command.Name, c.NArg())
	}
	return spec.Load(c.Args().First(), overrides(c))
}

func overrides(c *cli.Context) spec.Overrides {
	return spec.Overrides{Name: c.String("name"), Output: c.String("output"), Set: c.StringSlice("set"), Env: c.StringSlice("env")}
}

// printer writes results to stdout as text or as JSON lines with a type.
type printer interface {
	result(kind string, v any, text string)
}

type textPrinter struct{ w io.Writer }

func (p textPrinter) result(_ string, _ any, text string) { fmt.Fprintln(p.w, text) }

type jsonPrinter struct{ w io.Writer }

func (p jsonPrinter) result(kind string, v any, _ string) {
	data, err := json.Marshal(v)
	if err != nil {
		data = []byte("{}")
	}
	// Add the object's type without a second struct per kind.
	switch {
	case len(data) > 2 && data[0] == '{':
		fmt.Fprintf(p.w, "{\"type\":%q,%s\n", kind, data[1:])
	default: // not an object, or an empty one
		fmt.Fprintf(p.w, "{\"type\":%q,\"value\":%s}\n", kind, data)
	}
}

func newPrinter(c *cli.Context) printer {
	if c.Bool("json") {
		return jsonPrinter{c.App.Writer}
	}
	return textPrinter{c.App.Writer}
}

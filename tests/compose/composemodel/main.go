// composemodel prints a compose file as Docker Compose v2 resolves it, as JSON on stdout.
//
// It loads the project with github.com/compose-spec/compose-go/v2, the loader Docker Compose v2 is
// built on, with the same options `docker compose` passes it (cmd/compose/compose.go,
// toProjectOptions): the process environment first, then the project's .env for interpolation,
// then the compose-spec schema validation, normalisation and the consistency checks (depends_on
// targets, volumes, networks). The tests in tests/compose run it with a clean environment, so that
// only .env feeds the interpolation.
//
// Usage: composemodel [-project-directory DIR] [-f FILE]... [-env-file FILE]... [-p NAME]
//
// Exit status 0 with the model on stdout; 1 with one line `composemodel: error: ...` on stderr
// when compose-go rejects the project (the same error `docker compose config` would print).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var files, envFiles, profiles list
	dir := flag.String("project-directory", "", "project directory (default: the compose file's folder)")
	name := flag.String("p", "", "project name (default: COMPOSE_PROJECT_NAME, else the folder's name)")
	flag.Var(&files, "f", "compose file (repeatable; default: compose.yaml in the project directory)")
	flag.Var(&envFiles, "env-file", "env file (repeatable; default: .env in the project directory)")
	flag.Var(&profiles, "profile", "enable this profile's services too (repeatable), like docker compose --profile")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected argument %q", flag.Arg(0)))
	}

	options, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory(*dir),
		cli.WithOsEnv,
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithName(*name),
		cli.WithProfiles(profiles),
	)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(append(out, '\n'))
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "composemodel: error: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	os.Exit(1)
}

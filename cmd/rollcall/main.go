// Command rollcall runs the Rollcall server and its administrative tasks.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v3"

	"github.com/rollcall/rollcall/internal/app"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/org"
	"github.com/rollcall/rollcall/internal/throttle"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := command().Run(ctx, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "rollcall:", err)
		os.Exit(1)
	}
}

func command() *cli.Command {
	return &cli.Command{
		Name:  "rollcall",
		Usage: "invite an organisation's people until everyone has an account",
		Commands: []*cli.Command{
			{
				Name:   "serve",
				Usage:  "run the server (migrates the database first)",
				Flags:  config.ServeFlags(),
				Action: serve,
			},
			{
				Name:   "migrate",
				Usage:  "apply the database schema and exit",
				Flags:  config.ServeFlags(),
				Action: migrate,
			},
			{
				Name:  "org",
				Usage: "manage organisations",
				Commands: []*cli.Command{{
					Name:  "create",
					Usage: "add an organisation with its built-in roles and an Owner",
					Flags: append([]cli.Flag{
						config.DatabaseFlag(),
						&cli.StringFlag{Name: "slug", Required: true, Usage: "short name used to sign in, e.g. acme"},
						&cli.StringFlag{Name: "name", Usage: "display name (default: the slug)"},
						&cli.StringFlag{Name: "owner-email", Required: true, Usage: "the Owner's email"},
						&cli.StringFlag{Name: "owner-password", Usage: "the Owner's password (generated and printed when empty)"},
					}, config.LogFlags()...),
					Action: createOrg,
				}},
			},
			{
				Name:  "version",
				Usage: "print the version",
				Action: func(_ context.Context, cmd *cli.Command) error {
					_, err := fmt.Fprintln(cmd.Root().Writer, "rollcall", version)
					return err
				},
			},
		},
	}
}

func open(ctx context.Context, cmd *cli.Command) (*app.App, error) {
	cfg, err := config.FromCommand(cmd)
	if err != nil {
		return nil, err
	}
	return app.New(ctx, cfg, config.NewLogger(cfg.LogLevel, cfg.LogFormat), clock.System{})
}

func serve(ctx context.Context, cmd *cli.Command) error {
	a, err := open(ctx, cmd)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.Migrate(ctx, cmd.Root().Writer); err != nil {
		return err
	}
	return a.Serve(ctx)
}

func migrate(ctx context.Context, cmd *cli.Command) error {
	a, err := open(ctx, cmd)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Migrate(ctx, cmd.Root().Writer)
}

func createOrg(ctx context.Context, cmd *cli.Command) error {
	level, err := config.ParseLevel(cmd.String("log-level"))
	if err != nil {
		return err
	}
	log := config.NewLogger(level, cmd.String("log-format"))
	d, err := db.Open(ctx, cmd.String("database-url"))
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Migrate(ctx, log); err != nil {
		return err
	}
	clk := clock.System{}
	authSvc := auth.New(d.Client, clk, throttle.New(d.Client, d.Dialect, clk), auth.DefaultConfig(), log)
	created, err := org.New(d.Client, clk, authSvc.HashPassword, audit.New(clk)).Create(ctx, org.CreateInput{
		Slug: cmd.String("slug"), Name: cmd.String("name"),
		OwnerEmail: cmd.String("owner-email"), OwnerPassword: cmd.String("owner-password"),
	})
	if err != nil {
		return err
	}
	w := cmd.Root().Writer
	fmt.Fprintf(w, "Created organisation %q (%s) with Owner %s.\n", created.Organization.Slug, created.Organization.Name, created.Owner.Email)
	if created.GeneratedPassword != "" {
		fmt.Fprintf(w, "The Owner's password, shown only once:\n\n    %s\n\n", created.GeneratedPassword)
	}
	return nil
}

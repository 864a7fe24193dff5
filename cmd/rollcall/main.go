// Command rollcall runs the Rollcall server and its administrative tasks.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v3"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/organization"
	"github.com/rollcall/rollcall/ent/role"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/app"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/bulksend"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/importer"
	"github.com/rollcall/rollcall/internal/org"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/throttle"
	"github.com/rollcall/rollcall/internal/viewer"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := command().Run(ctx, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "rollcall:", err)
		code := 1
		var exit cli.ExitCoder
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		}
		os.Exit(code)
	}
}

func command() *cli.Command {
	return &cli.Command{
		Name:  "rollcall",
		Usage: "invite an organisation's people until everyone has an account",
		// main turns errors into exit codes; the library would exit itself.
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
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
				Name:      "import",
				Usage:     "import people from a CSV file into an organisation (no email unless --send-invitations)",
				ArgsUsage: "FILE",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "org", Required: true, Usage: "the organisation's slug"},
					&cli.StringFlag{Name: "role", Usage: "role of rows without one (default Member)"},
					&cli.BoolFlag{Name: "send-invitations", Usage: "invite the new and still NOT_INVITED people"},
					&cli.BoolFlag{Name: "dry-run", Usage: "validate and count only"},
				}, config.ServeFlags()...),
				Action: importFile,
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
	if err := a.Migrate(ctx); err != nil {
		return err
	}
	if err := a.Bootstrap(ctx, cmd.Root().Writer); err != nil {
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
	return a.Migrate(ctx)
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
	created, err := org.New(d.Client, clk, authSvc.HashPassword, audit.New(d.Client, clk)).Create(ctx, org.CreateInput{
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

// importFile runs a CSV import as the organisation's Owner, with a progress
// bar on stderr and a summary on stdout. Rejected rows make it exit 2.
func importFile(ctx context.Context, cmd *cli.Command) error {
	path := cmd.Args().First()
	if path == "" || cmd.Args().Len() > 1 {
		return cli.Exit("usage: rollcall import --org SLUG FILE", 2)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	a, err := open(ctx, cmd)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.DB.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	actx, defaultRole, err := actAsOwner(ctx, a, cmd.String("org"), cmd.String("role"))
	if err != nil {
		return err
	}
	bar := progressbar.NewOptions64(info.Size(), progressbar.OptionSetWriter(cmd.Root().ErrWriter),
		progressbar.OptionSetDescription("importing "+filepath.Base(path)), progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	reader := progressbar.NewReader(f, bar)
	res, err := a.Importer.Import(actx, importer.Input{
		File: &reader, Filename: filepath.Base(path), DefaultRoleID: defaultRole,
		SendInvitations: cmd.Bool("send-invitations"), DryRun: cmd.Bool("dry-run"),
	})
	_ = bar.Finish()
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(cmd.Root().Writer, 0, 0, 2, ' ', 0)
	if cmd.Bool("dry-run") {
		fmt.Fprintln(w, "dry run: nothing was changed")
	}
	fmt.Fprintf(w, "created\t%d\nupdated\t%d\nunchanged\t%d\nrejected\t%d\ninvited\t%d\n",
		res.Created, res.Updated, res.Unchanged, res.Rejected, res.Invited)
	if len(res.Errors) > 0 {
		fmt.Fprintln(w, "\nline\temail\tproblem")
		for _, e := range res.Errors {
			fmt.Fprintf(w, "%d\t%s\t%s\n", e.Line, e.Email, e.Message)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if res.BulkSend != nil {
		if err := sendNow(actx, a, res.BulkSend, cmd.Root().ErrWriter, cmd.Root().Writer); err != nil {
			return err
		}
	}
	if res.Rejected > 0 {
		return cli.Exit(fmt.Sprintf("%d rows were rejected", res.Rejected), 2)
	}
	return nil
}

// sendNow works a bulk send in this process (alongside any running server)
// until it finishes, with a progress bar on errw and the outcome on w.
func sendNow(ctx context.Context, a *app.App, b *ent.BulkSend, errw, w io.Writer) error {
	progress, err := a.BulkSends.Watch(ctx, b.ID)
	if err != nil {
		return err
	}
	a.Start()
	bar := progressbar.NewOptions(b.Total, progressbar.OptionSetWriter(errw),
		progressbar.OptionSetDescription("sending invitations"), progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish())
	for b = range progress {
		_ = bar.Set(b.Sent + b.Failed + b.Skipped)
	}
	_ = bar.Finish()
	if b.FinishedAt == nil {
		return fmt.Errorf("stopped before the invitations were all sent; a running server will finish them")
	}
	fmt.Fprintf(w, "\n%s\n", bulksend.Summary(b))
	return nil
}

// actAsOwner returns a context acting as the organisation's first Owner (the
// CLI is run by an operator) and the id of the role named role, if any.
func actAsOwner(ctx context.Context, a *app.App, slug, roleName string) (context.Context, *int, error) {
	sys := auth.AsSystem(ctx)
	o, err := a.DB.Client.Organization.Query().Where(organization.Slug(slug)).Only(sys)
	if ent.IsNotFound(err) {
		return nil, nil, fmt.Errorf("no organisation %q", slug)
	} else if err != nil {
		return nil, nil, err
	}
	owner, err := a.DB.Client.User.Query().
		Where(user.OrganizationID(o.ID), user.StatusEQ(user.StatusActive), user.HasRoleWith(role.Name(perm.Owner), role.Builtin(true))).
		Order(user.ByID()).First(sys)
	if err != nil {
		return nil, nil, fmt.Errorf("find an active Owner of %s: %w", slug, err)
	}
	var roleID *int
	if roleName != "" {
		r, err := a.DB.Client.Role.Query().Where(role.OrganizationID(o.ID), role.NameEqualFold(roleName)).Only(sys)
		if err != nil {
			return nil, nil, fmt.Errorf("no role %q in %s", roleName, slug)
		}
		roleID = &r.ID
	}
	return viewer.NewContext(ctx, &viewer.Viewer{OrgID: o.ID, UserID: owner.ID, RoleID: owner.RoleID, Label: owner.Email, Permissions: perm.All()}), roleID, nil
}

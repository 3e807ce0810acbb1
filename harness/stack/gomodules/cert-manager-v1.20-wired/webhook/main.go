// Command webhook is cert-manager v1.20's webhook built from its own packages under a main written by certchaos:
// flags, defaults and the server (TLS, dynamic serving, admission chain) are the release's packages; the
// main only loads the configuration and starts the server.
package main

import (
	"context"
	"os"

	"github.com/cert-manager/cert-manager/internal/apis/config/webhook/validation"
	cmwebhook "github.com/cert-manager/cert-manager/internal/webhook"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	webhookconfigfile "github.com/cert-manager/cert-manager/pkg/webhook/configfile"
	"github.com/cert-manager/cert-manager/pkg/webhook/options"
	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/cert-manager/cert-manager/certchaos-wired/wiring"
)

func main() {
	wiring.Main("webhook", []string{"webhook"}, func(ctx context.Context) *cobra.Command {
		ctrl.SetLogger(logf.Log)
		return command(ctx)
	})
}

func command(ctx context.Context) *cobra.Command {
	flags := options.NewWebhookFlags()
	cfg, err := options.NewWebhookConfiguration() // the release's defaults, from its own options package
	if err != nil {
		logf.FromContext(ctx).Error(err, "building the default configuration")
		os.Exit(1)
	}
	file := webhookconfigfile.New()
	cmd := wiring.Command(wiring.Component{
		Use: "webhook", Short: "cert-manager's webhook", Starting: "cert-manager webhook",
		ConfigPath: &flags.Config, File: file, Adopt: func() { file.Config.DeepCopyInto(cfg) },
		Gates:    func() map[string]bool { return cfg.FeatureGates },
		Validate: func() error { return validation.ValidateWebhookConfiguration(cfg, nil).ToAggregate() },
		Logging:  &cfg.Logging,
		Run: func(ctx context.Context) error {
			srv, err := cmwebhook.NewCertManagerWebhookServer(logf.FromContext(ctx), *cfg)
			if err != nil {
				return err
			}
			return srv.Run(ctx)
		},
	})
	flags.AddFlags(cmd.Flags())
	options.AddConfigFlags(cmd.Flags(), cfg)
	return cmd
}

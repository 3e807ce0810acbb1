// Package wiring is what the four certchaos-wired commands share: the process around a command (signals,
// logs, exit code), the label every one of them prints (`--version`, which the release's commands lack, and the
// start line), the release's order of loading a configuration (defaults, file, flags) and the metrics endpoint's
// TLS of the controller and cainjector.
package wiring

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cert-manager/cert-manager/internal/apis/config/shared"
	"github.com/cert-manager/cert-manager/internal/cmd/util"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	servertls "github.com/cert-manager/cert-manager/pkg/server/tls"
	"github.com/cert-manager/cert-manager/pkg/server/tls/authority"
	cmutil "github.com/cert-manager/cert-manager/pkg/util"
	utilconfigfile "github.com/cert-manager/cert-manager/pkg/util/configfile"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	cliflag "k8s.io/component-base/cli/flag"
	logsapi "k8s.io/component-base/logs/api/v1"
)

// Label says, wherever a version is asked or logged, that this is not the release's own binary.
const Label = "certchaos-wired"

// Version is the line `--version` prints: the release's packages, our main.
func Version(component string) string {
	return fmt.Sprintf("cert-manager-%s %s %s (cert-manager's packages at %s, wired by certchaos's own main, "+
		"not the release's binary)", component, cmutil.AppVersion, Label, cmutil.AppVersion)
}

// Main runs the command `build` makes as the release's mains do: SIGTERM/SIGINT cancel the context (a
// second one exits 130), an error is logged and exits 1 (124 for a deadline), a clean stop exits 0; the
// context carries the logger named as the release's main names it (`logger`: "cert-manager.controller", ...).
// `--version` prints Version and exits before anything else is parsed.
func Main(component string, logger []string, build func(ctx context.Context) *cobra.Command) {
	for _, arg := range os.Args[1:] {
		if arg == "--version" {
			fmt.Println(Version(component))
			return
		}
	}
	ctx, exit := util.SetupExitHandler(context.Background(), util.GracefulShutdown)
	defer exit() // may os.Exit: deferred first, so it runs last

	logf.InitLogs()
	defer logf.FlushLogs()
	ctx = logf.NewContext(ctx, logf.Log, logger...)

	if err := build(ctx).ExecuteContext(ctx); err != nil {
		logf.Log.Error(err, "error executing command")
		util.SetExitCode(err)
	}
}

// Started logs the start line the release logs, with the label beside the version.
func Started(ctx context.Context, what string) {
	info := cmutil.VersionInfo()
	logf.FromContext(ctx).Info("starting "+what, "version", info.GitVersion, "build", Label,
		"git_commit", info.GitCommit, "go_version", info.GoVersion, "platform", info.Platform)
}

// Component is what differs between the controller, webhook and cainjector commands.
type Component struct {
	Use, Short string
	Starting   string                    // what the start line names: "cert-manager controller", ...
	ConfigPath *string                   // bound to --config
	File       utilconfigfile.ConfigFile // decodes a --config file
	Adopt      func()                    // copies what File decoded over the flag-bound configuration
	Gates      func() map[string]bool    // the configuration's feature gates
	Validate   func() error              // the release's validation of the whole configuration
	Logging    *logsapi.LoggingConfiguration
	Run        func(ctx context.Context) error
}

// Command is a component's command in the release's order: `--config`, then the command line over it (a flag
// given wins), feature gates set from the configuration before and after, validation, logging applied, run.
// The caller binds the flags to the configuration (and --config to ConfigPath) before it executes.
func Command(c Component) *cobra.Command {
	cmd := &cobra.Command{
		Use:           c.Use,
		Short:         c.Short + " (" + Label + ")",
		SilenceErrors: true, // Main logs it
		SilenceUsage:  true,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := loadConfig(cmd, c); err != nil {
				return err
			}
			if err := c.Validate(); err != nil {
				return fmt.Errorf("error validating flags: %w", err)
			}
			return logf.ValidateAndApply(c.Logging)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			Started(cmd.Context(), c.Starting)
			return c.Run(cmd.Context())
		},
	}
	cmd.SetArgs(os.Args[1:])
	return cmd
}

func loadConfig(cmd *cobra.Command, c Component) error {
	setGates := func() error {
		if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(c.Gates()); err != nil {
			return fmt.Errorf("failed to set feature gates: %w", err)
		}
		return nil
	}
	path := *c.ConfigPath
	if err := setGates(); err != nil || path == "" {
		return err
	}
	absolute, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	loader, err := utilconfigfile.NewConfigurationFSLoader(nil, absolute)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if err := loader.Load(c.File); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	c.Adopt()
	_, rest, err := cmd.Root().Find(os.Args[1:])
	if err != nil {
		return fmt.Errorf("re-parsing the flags over the config file: %w", err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return fmt.Errorf("re-parsing the flags over the config file: %w", err)
	}
	return setGates()
}

// Defaulted is a component's configuration with nothing set: the release's versioned type defaulted by its scheme
// (the v1alpha1 defaults in internal/apis/config), converted to the internal type the packages take; an error
// (a scheme that does not build) ends the process, as in the release.
func Defaulted[V, I runtime.Object](ctx context.Context,
	newScheme func(...serializer.CodecFactoryOptionsMutator) (*runtime.Scheme, *serializer.CodecFactory, error),
	versioned V, internal I) I {
	scheme, _, err := newScheme()
	if err == nil {
		scheme.Default(versioned)
		err = scheme.Convert(versioned, internal, nil)
	}
	if err != nil {
		logf.FromContext(ctx).Error(err, "building the default configuration")
		os.Exit(1)
	}
	return internal
}

// AddMetricsTLSFlags binds the metrics endpoint's TLS flags the controller and cainjector share to t.
func AddMetricsTLSFlags(fs *pflag.FlagSet, t *shared.TLSConfig) {
	fs.StringVar(&t.Filesystem.CertFile, "metrics-tls-cert-file", t.Filesystem.CertFile,
		"the metrics endpoint's certificate file")
	fs.StringVar(&t.Filesystem.KeyFile, "metrics-tls-private-key-file", t.Filesystem.KeyFile, "its private key file")
	fs.DurationVar(&t.Dynamic.LeafDuration, "metrics-dynamic-serving-leaf-duration", t.Dynamic.LeafDuration,
		"lifetime of the dynamic serving certificates")
	fs.StringVar(&t.Dynamic.SecretNamespace, "metrics-dynamic-serving-ca-secret-namespace", t.Dynamic.SecretNamespace,
		"namespace of the Secret holding the dynamic serving CA")
	fs.StringVar(&t.Dynamic.SecretName, "metrics-dynamic-serving-ca-secret-name", t.Dynamic.SecretName,
		"name of the Secret holding the dynamic serving CA")
	fs.StringSliceVar(&t.Dynamic.DNSNames, "metrics-dynamic-serving-dns-names", t.Dynamic.DNSNames,
		"DNS names of the dynamic serving certificates")
	fs.StringSliceVar(&t.CipherSuites, "metrics-tls-cipher-suites", t.CipherSuites,
		"cipher suites of the metrics endpoint (none: Go's): "+strings.Join(cliflag.TLSCipherPossibleValues(), ","))
	fs.StringVar(&t.MinTLSVersion, "metrics-tls-min-version", t.MinTLSVersion,
		"lowest TLS version of the metrics endpoint: "+strings.Join(cliflag.TLSPossibleVersions(), ", "))
}

// CertificateSource is the metrics endpoint's TLS as t says: files, a CA kept in a Secret (labelled managed by
// `managedBy`), or none (plain HTTP).
func CertificateSource(t shared.TLSConfig, restConfig *rest.Config, managedBy string) servertls.CertificateSource {
	switch {
	case t.FilesystemConfigProvided():
		return &servertls.FileCertificateSource{CertPath: t.Filesystem.CertFile, KeyPath: t.Filesystem.KeyFile}
	case t.DynamicConfigProvided():
		return &servertls.DynamicSource{DNSNames: t.Dynamic.DNSNames, Authority: &authority.DynamicAuthority{
			SecretNamespace: t.Dynamic.SecretNamespace, SecretName: t.Dynamic.SecretName,
			SecretLabels: map[string]string{"app.kubernetes.io/managed-by": managedBy},
			LeafDuration: t.Dynamic.LeafDuration, RESTConfig: restConfig}}
	}
	return nil
}

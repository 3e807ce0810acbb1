// Command acmesolver is cert-manager v1.20's HTTP-01 solver built from its own package (pkg/issuer/acme/http/
// solver) under a main written by certchaos: it serves one challenge token until it is told to stop.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cert-manager/cert-manager/pkg/issuer/acme/http/solver"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/spf13/cobra"
	"k8s.io/component-base/logs"

	"github.com/cert-manager/cert-manager/certchaos-wired/wiring"
)

func main() {
	wiring.Main("acmesolver", []string{"acmesolver"}, command)
}

func command(context.Context) *cobra.Command {
	s := new(solver.HTTP01Solver)
	logging := logs.NewOptions() // the release's defaults; it has no logging flags
	cmd := &cobra.Command{
		Use:           "acmesolver",
		Short:         "serves one ACME HTTP-01 challenge (" + wiring.Label + ")",
		SilenceErrors: true,
		SilenceUsage:  true,
		PreRunE: func(*cobra.Command, []string) error {
			if err := logf.ValidateAndApply(logging); err != nil {
				return fmt.Errorf("error validating options: %s", err)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			stopped := make(chan struct{})
			go func() { // on SIGTERM: 5 s to finish what it serves
				defer close(stopped)
				<-ctx.Done()
				stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := s.Shutdown(stop); err != nil { //nolint:contextcheck // ctx has ended
					logf.FromContext(ctx).Error(err, "error shutting down acmesolver server")
				}
			}()
			if err := s.Listen(logf.FromContext(ctx)); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			<-stopped
			return nil
		},
	}
	cmd.Flags().IntVar(&s.ListenPort, "listen-port", 8089, "port to serve the challenge on")
	cmd.Flags().StringVar(&s.Domain, "domain", "", "the domain being validated")
	cmd.Flags().StringVar(&s.Token, "token", "", "the challenge token")
	cmd.Flags().StringVar(&s.Key, "key", "", "the key authorization to answer with")
	return cmd
}

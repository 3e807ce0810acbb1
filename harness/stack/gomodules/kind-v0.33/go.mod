// Wrapper module: builds kind v0.33.0, the kind that drives a node image of `--kubernetes v1.36.3|v1.37.2`:
// kubeadm >= 1.36 reads only kubeadm.k8s.io/v1beta4 (and v1) config, which kind writes from v0.33.0 on for
// those versions; v0.21.0 (../kind, the default's) writes v1beta3.
module certchaos.local/gomodules/kind-v0.33

go 1.21

require sigs.k8s.io/kind v0.33.0

require (
	al.essio.dev/pkg/shellescape v1.5.1 // indirect
	github.com/BurntSushi/toml v1.4.0 // indirect
	github.com/evanphx/json-patch/v5 v5.6.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/pelletier/go-toml v1.9.5 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/spf13/cobra v1.8.0 // indirect
	github.com/spf13/pflag v1.0.5 // indirect
	go.yaml.in/yaml/v3 v3.0.4 // indirect
	golang.org/x/sys v0.6.0 // indirect
	sigs.k8s.io/yaml v1.4.0 // indirect
)

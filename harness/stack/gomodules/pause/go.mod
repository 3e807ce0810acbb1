// Our own pod sandbox program (registry.k8s.io/pause:3.9 in the kind node image): no dependencies.
module certchaos.local/gomodules/pause

go 1.21

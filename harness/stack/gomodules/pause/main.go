// pause: the pod sandbox process. It holds the pod's namespaces open, reaps
// zombie children (it is PID 1 when the pod shares its PID namespace) and exits
// on SIGINT/SIGTERM. Built static and tagged registry.k8s.io/pause:3.9.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for { // reap every exited child without blocking
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}

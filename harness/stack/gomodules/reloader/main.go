// reloader: certchaos's reloader stand-in. It implements the contract Stakater Reloader documents for
// Deployments and Secrets, with Reloader's default (env-vars) strategy:
//
//   - reloader.stakater.com/auto: "true" (or secret.reloader.stakater.com/auto: "true") on a Deployment:
//     a change of the data of any Secret its pod template references (volume, projected volume, env
//     valueFrom, envFrom) rolls it;
//   - secret.reloader.stakater.com/reload: "a,b": a change of the data of Secret a or b rolls it;
//   - the rollout: the container that uses the Secret (else the first) gets the environment variable
//     STAKATER_<SECRET NAME>_SECRET (name upper-cased, each run of other characters one "_") holding the
//     SHA1 (hex) of the Secret's data as sorted "key=value" joined by ";"; an unchanged value is no update;
//   - only updates count: a Secret that appears (as every Secret does when the watch starts) or is deleted
//     rolls nothing (Reloader's --reload-on-create and --reload-on-delete default to false), and a change
//     of metadata only rolls nothing.
//
// It is not Reloader: it is named "reloader stand-in" in its logs and wherever certchaos reports it.
package main

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"flag"
	"log"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
)

const (
	autoAnnotation       = "reloader.stakater.com/auto"
	secretAutoAnnotation = "secret.reloader.stakater.com/auto"
	reloadAnnotation     = "secret.reloader.stakater.com/reload"
)

// EnvVarName is the variable the env-vars strategy sets for Secret `name`.
func EnvVarName(name string) string {
	var b strings.Builder
	valid := false
	for _, r := range strings.ToUpper(name) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			valid = true
		} else if valid {
			b.WriteByte('_')
			valid = false
		}
	}
	return "STAKATER_" + b.String() + "_SECRET"
}

// DataHash is the value the env-vars strategy sets: SHA1 of the sorted "key=value" pairs joined by ";".
func DataHash(data map[string][]byte) string {
	pairs := make([]string, 0, len(data))
	for k, v := range data {
		pairs = append(pairs, k+"="+string(v))
	}
	sort.Strings(pairs)
	sum := sha1.Sum([]byte(strings.Join(pairs, ";")))
	return hex.EncodeToString(sum[:])
}

func usesSecret(c corev1.Container, volumes map[string]bool, secret string) bool {
	for _, m := range c.VolumeMounts {
		if volumes[m.Name] {
			return true
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == secret {
			return true
		}
	}
	for _, e := range c.EnvFrom {
		if e.SecretRef != nil && e.SecretRef.Name == secret {
			return true
		}
	}
	return false
}

// secretVolumes are the pod's volumes that project Secret `secret`.
func secretVolumes(spec corev1.PodSpec, secret string) map[string]bool {
	found := map[string]bool{}
	for _, v := range spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == secret {
			found[v.Name] = true
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.Secret != nil && s.Secret.Name == secret {
					found[v.Name] = true
				}
			}
		}
	}
	return found
}

// Target is the index of the container to set the variable in, or -1 when the Deployment is not to roll.
func Target(d *appsv1.Deployment, secret string) int {
	spec := d.Spec.Template.Spec
	volumes := secretVolumes(spec, secret)
	user := -1
	for i, c := range spec.Containers {
		if usesSecret(c, volumes, secret) {
			user = i
			break
		}
	}
	referenced := user >= 0 || len(volumes) > 0
	for _, c := range spec.InitContainers {
		referenced = referenced || usesSecret(c, volumes, secret)
	}
	annotations := d.Annotations
	named := false
	for _, n := range strings.Split(annotations[reloadAnnotation], ",") {
		named = named || strings.TrimSpace(n) == secret
	}
	auto := annotations[autoAnnotation] == "true" || annotations[secretAutoAnnotation] == "true"
	if !named && !(auto && referenced) || len(spec.Containers) == 0 {
		return -1
	}
	if user < 0 {
		user = 0
	}
	return user
}

// Apply sets the variable in container `i`; false when it already holds `hash` (nothing to roll).
func Apply(d *appsv1.Deployment, i int, secret, hash string) bool {
	c := &d.Spec.Template.Spec.Containers[i]
	name := EnvVarName(secret)
	for j := range c.Env {
		if c.Env[j].Name == name {
			if c.Env[j].Value == hash {
				return false
			}
			c.Env[j].Value = hash
			return true
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: hash})
	return true
}

func reload(ctx context.Context, cs kubernetes.Interface, s *corev1.Secret) {
	hash := DataHash(s.Data)
	deployments, err := cs.AppsV1().Deployments(s.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		log.Printf("reloader stand-in: listing Deployments in %s: %v", s.Namespace, err)
		return
	}
	for _, item := range deployments.Items {
		name := item.Name
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			d, err := cs.AppsV1().Deployments(s.Namespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			i := Target(d, s.Name)
			if i < 0 || !Apply(d, i, s.Name, hash) {
				return nil
			}
			if _, err = cs.AppsV1().Deployments(s.Namespace).Update(ctx, d, metav1.UpdateOptions{}); err == nil {
				log.Printf("reloader stand-in: Secret %s/%s changed: Deployment %s rolled (%s=%s)",
					s.Namespace, s.Name, name, EnvVarName(s.Name), hash)
			}
			return err
		})
		if err != nil {
			log.Printf("reloader stand-in: updating Deployment %s/%s: %v", s.Namespace, name, err)
		}
	}
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file (default: in-cluster)")
	// Reloader watches one namespace when KUBERNETES_NAMESPACE is set (its chart's watchGlobally: false).
	namespace := flag.String("namespace", os.Getenv("KUBERNETES_NAMESPACE"), "watch only this namespace (default: $KUBERNETES_NAMESPACE, else all)")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.LUTC)
	var config *rest.Config
	var err error
	if *kubeconfig != "" {
		config, err = clientcmd.BuildConfigFromFlags("", *kubeconfig)
	} else {
		config, err = rest.InClusterConfig()
	}
	if err != nil {
		log.Fatalf("reloader stand-in: %v", err)
	}
	cs := kubernetes.NewForConfigOrDie(config)
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(*namespace))
	secrets := factory.Core().V1().Secrets().Informer()
	secrets.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(old, new interface{}) {
			before, after := old.(*corev1.Secret), new.(*corev1.Secret)
			if DataHash(before.Data) != DataHash(after.Data) {
				reload(ctx, cs, after)
			}
		},
	})
	log.Printf("reloader stand-in (certchaos, not Stakater Reloader): watching Secrets in %q", *namespace)
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), secrets.HasSynced) {
		log.Printf("reloader stand-in: stopped before the Secret cache synced")
		os.Exit(1)
	}
	log.Printf("reloader stand-in: synced")
	<-ctx.Done()
}

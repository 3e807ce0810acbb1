package main

import (
	"crypto/sha1"
	"encoding/hex"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestEnvVarNameFollowsReloadersConvention(t *testing.T) {
	for name, want := range map[string]string{
		"web":          "STAKATER_WEB_SECRET",
		"web-tls":      "STAKATER_WEB_TLS_SECRET",
		"a.b--c":       "STAKATER_A_B_C_SECRET",
		"-lead":        "STAKATER_LEAD_SECRET",
		"trail-":       "STAKATER_TRAIL__SECRET",
		"tls-2024.v1x": "STAKATER_TLS_2024_V1X_SECRET",
	} {
		if got := EnvVarName(name); got != want {
			t.Errorf("EnvVarName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestDataHashIsSHA1OfSortedPairs(t *testing.T) {
	sum := sha1.Sum([]byte("a=1;b=2"))
	want := hex.EncodeToString(sum[:])
	if got := DataHash(map[string][]byte{"b": []byte("2"), "a": []byte("1")}); got != want {
		t.Errorf("DataHash = %s, want %s", got, want)
	}
	if DataHash(map[string][]byte{"a": []byte("1")}) == DataHash(map[string][]byte{"a": []byte("2")}) {
		t.Error("different data, same hash")
	}
}

func deployment(annotations map[string]string, spec corev1.PodSpec) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d", Annotations: annotations},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: spec}}}
}

func volumeSpec(secret string) corev1.PodSpec {
	return corev1.PodSpec{
		Volumes:    []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}}},
		Containers: []corev1.Container{{Name: "sidecar"}, {Name: "server", VolumeMounts: []corev1.VolumeMount{{Name: "tls", MountPath: "/tls"}}}},
	}
}

func TestTargetHonoursTheAnnotationsAndOnlyThem(t *testing.T) {
	envSpec := corev1.PodSpec{Containers: []corev1.Container{{Name: "server", Env: []corev1.EnvVar{{Name: "X",
		ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "web"}, Key: "tls.crt"}}}}}}}
	cases := []struct {
		what        string
		annotations map[string]string
		spec        corev1.PodSpec
		secret      string
		want        int
	}{
		{"auto, volume: the container that mounts it", map[string]string{autoAnnotation: "true"}, volumeSpec("web"), "web", 1},
		{"auto, env var", map[string]string{autoAnnotation: "true"}, envSpec, "web", 0},
		{"secret auto", map[string]string{secretAutoAnnotation: "true"}, volumeSpec("web"), "web", 1},
		{"auto, unrelated Secret", map[string]string{autoAnnotation: "true"}, volumeSpec("web"), "other", -1},
		{"auto false", map[string]string{autoAnnotation: "false"}, volumeSpec("web"), "web", -1},
		{"no annotation", nil, volumeSpec("web"), "web", -1},
		{"named, list with spaces", map[string]string{reloadAnnotation: "a, web"}, volumeSpec("web"), "web", 1},
		{"named, not referenced: first container", map[string]string{reloadAnnotation: "web"}, volumeSpec("x"), "web", 0},
		{"named, another Secret", map[string]string{reloadAnnotation: "web"}, volumeSpec("web"), "webx", -1},
	}
	for _, c := range cases {
		if got := Target(deployment(c.annotations, c.spec), c.secret); got != c.want {
			t.Errorf("%s: Target = %d, want %d", c.what, got, c.want)
		}
	}
}

func TestApplySetsTheVariableOnceAndUpdatesIt(t *testing.T) {
	d := deployment(map[string]string{autoAnnotation: "true"}, volumeSpec("web"))
	if !Apply(d, 1, "web", "h1") || Apply(d, 1, "web", "h1") {
		t.Fatal("first Apply must change the template, the same hash again must not")
	}
	if !Apply(d, 1, "web", "h2") {
		t.Fatal("a new hash must change the template")
	}
	env := d.Spec.Template.Spec.Containers[1].Env
	if len(env) != 1 || env[0].Name != "STAKATER_WEB_SECRET" || env[0].Value != "h2" {
		t.Fatalf("env = %v", env)
	}
}

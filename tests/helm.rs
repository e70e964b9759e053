//! The Helm chart, checked with the real helm 3.18 binary and kubernetes-validate (both
//! installed into target/tools by scripts/install-helm-tools.sh): `helm lint --strict`,
//! and `helm template` with the default values and three value sets, each validated
//! strictly against the Kubernetes 1.33 schemas; the passive range and the probes are
//! asserted in the rendered manifests.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn tools() -> Option<(PathBuf, PathBuf)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tools");
    let (helm, validate) = (
        root.join("bin/helm"),
        root.join("venv/bin/kubernetes-validate"),
    );
    if helm.exists() && validate.exists() {
        return Some((helm, validate));
    }
    common::missing_peer("helm tools", "run scripts/install-helm-tools.sh");
    None
}

fn chart() -> String {
    format!("{}/helm/griddock", env!("CARGO_MANIFEST_DIR"))
}

fn render(helm: &PathBuf, sets: &[&str]) -> String {
    let mut cmd = Command::new(helm);
    cmd.args(["template", "gd", &chart(), "--namespace", "data"]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "helm template {sets:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn validate(tool: &PathBuf, manifests: &str, what: &str) {
    let mut child = Command::new(tool)
        .args(["--strict", "-k", "1.33.0", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(manifests.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what}: kubernetes-validate failed:\n{text}\n---\n{manifests}"
    );
    assert!(!text.to_lowercase().contains("error"), "{what}: {text}");
}

#[test]
fn chart_lints_and_renders_valid_manifests_for_each_value_set() {
    let Some((helm, kv)) = tools() else { return };
    let lint = Command::new(&helm)
        .args([
            "lint",
            "--strict",
            &chart(),
            "--set",
            "publicHost=data.example.org",
        ])
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    let base = "publicHost=data.example.org";
    let sets: [(&str, Vec<&str>); 4] = [
        ("defaults", vec![base]),
        (
            "hostNetwork + acme",
            vec![
                base,
                "networking.hostNetwork=true",
                "tls.source=acme",
                "acme.email=ops@example.org",
            ],
        ),
        (
            "LoadBalancer + existing TLS secret + users/gridmap secrets",
            vec![
                base,
                "networking.service.type=LoadBalancer",
                "tls.existingSecret=gd-tls",
                "auth.usersSecret=gd-users",
                "gridmap.secret=gd-gridmap",
                "x509CertDir.hostPath=/etc/grid-security/certificates",
            ],
        ),
        (
            "NodePort + hostPath persistence",
            vec![
                base,
                "networking.service.type=NodePort",
                "persistence.data.type=hostPath",
                "persistence.data.hostPath=/srv/data",
                "persistence.state.type=existingClaim",
                "persistence.state.existingClaim=gd-state",
            ],
        ),
    ];
    for (what, set) in &sets {
        let m = render(&helm, set);
        validate(&kv, &m, what);
        assert!(
            m.contains("path: /healthz") && m.contains("path: /readyz"),
            "{what}: probes"
        );
        assert!(
            m.contains("readOnlyRootFilesystem: true") && m.contains("runAsNonRoot: true"),
            "{what}"
        );
        assert!(
            m.contains("value: \"50000-50200\""),
            "{what}: passive range passed to griddock"
        );
        if set.contains(&"networking.hostNetwork=true") {
            assert!(
                m.contains("hostNetwork: true") && !m.contains("kind: Service"),
                "{what}"
            );
        } else {
            // Every passive port is carried by the Service, same numbers outside and in.
            for p in [50000, 50100, 50200] {
                assert!(
                    m.contains(&format!(
                        "name: pasv-{p}\n      port: {p}\n      targetPort: {p}"
                    )),
                    "{what}: port {p}"
                );
            }
            assert!(
                !m.contains("pasv-50201") && !m.contains("pasv-49999"),
                "{what}"
            );
            assert_eq!(m.matches("name: pasv-").count(), 201, "{what}");
            assert!(m.contains("externalTrafficPolicy: Local"), "{what}");
        }
    }
    let secret = render(&helm, &sets[2].1);
    assert!(
        secret.contains("secretName: gd-tls")
            && secret.contains("value: /etc/griddock/tls/tls.crt")
    );
    // GSI: the grid-mapfile Secret as a directory (updates reach the pod), the trust dir.
    assert!(
        secret.contains("name: GRIDDOCK_AUTH__GRIDMAP_FILE\n              value: /etc/grid-security/gridmap/grid-mapfile")
            && secret.contains("mountPath: /etc/grid-security/certificates")
            && secret.contains("path: /etc/grid-security/certificates\n            type: Directory"),
        "{secret}"
    );
    let host = render(&helm, &sets[3].1);
    assert!(host.contains("path: /srv/data") && host.contains("claimName: gd-state"));

    // publicHost is required: a clear error, not a broken pod.
    let out = Command::new(&helm)
        .args(["template", "gd", &chart()])
        .output()
        .unwrap();
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("publicHost is required")
    );
}

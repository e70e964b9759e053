//! The Helm chart, checked with the real helm 3.18 binary and kubernetes-validate (both
//! installed into target/tools by scripts/install-helm-tools.sh): `helm lint --strict`,
//! and `helm template` with the default values and three value sets, each validated
//! strictly against the Kubernetes 1.33 schemas; the passive range and the probes are
//! asserted in the rendered manifests. Several doors on shared storage (README "More than
//! one node"): the DaemonSet and a multi-replica Deployment on the host network with
//! anti-affinity, the PodDisruptionBudget, the downward-API address, the cert-manager
//! Certificate (no schema in kubernetes-validate: its fields are asserted here), and the
//! combinations the chart refuses.

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

/// `helm <args…> <chart> <tail…> --set s…`, run to completion.
fn helm_run(helm: &PathBuf, args: &[&str], tail: &[&str], sets: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(helm);
    cmd.args(args).arg(chart()).args(tail);
    for s in sets {
        cmd.args(["--set", s]);
    }
    cmd.output().unwrap()
}

fn render(helm: &PathBuf, sets: &[&str]) -> String {
    let out = helm_run(helm, &["template", "gd"], &["--namespace", "data"], sets);
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

/// `helm lint --strict` of the chart with these values must pass.
fn lint(helm: &PathBuf, sets: &[&str]) {
    let out = helm_run(helm, &["lint", "--strict"], &[], sets);
    assert!(
        out.status.success(),
        "helm lint --strict {sets:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn chart_lints_and_renders_valid_manifests_for_each_value_set() {
    let Some((helm, kv)) = tools() else { return };

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
        lint(&helm, set);
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

fn render_err(helm: &PathBuf, sets: &[&str]) -> String {
    let out = helm_run(helm, &["template", "gd"], &[], sets);
    assert!(!out.status.success(), "{sets:?} rendered");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The rendered document of `kind`.
fn doc<'a>(manifests: &'a str, kind: &str) -> &'a str {
    manifests
        .split("\n---")
        .find(|d| d.contains(&format!("\nkind: {kind}\n")))
        .unwrap_or_else(|| panic!("no {kind} in:\n{manifests}"))
}

#[test]
fn several_doors_render_as_daemonset_or_deployment_with_pdb_and_anti_affinity() {
    let Some((helm, kv)) = tools() else { return };
    let shared = [
        "publicHost=data.example.org",
        "persistence.data.type=existingClaim",
        "persistence.data.existingClaim=cephfs-data",
    ];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        shared
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect()
    };

    // DaemonSet on labelled storage nodes, host network, each pod announcing its node's
    // address; cert-manager certificate for the alias and the doors' names.
    let ds = with(&[
        "workload=daemonset",
        "persistence.state.type=hostPath",
        "persistence.state.hostPath=/var/lib/griddock",
        "certManager.enabled=true",
        "certManager.dnsNames={door1.example.org,door2.example.org}",
        "macaroon.keySecret=gd-macaroon",
    ]);
    lint(&helm, &ds);
    let m = render(&helm, &ds);
    validate(&kv, &m, "daemonset");
    let w = doc(&m, "DaemonSet");
    assert!(
        w.contains("hostNetwork: true") && w.contains("dnsPolicy: ClusterFirstWithHostNet"),
        "{w}"
    );
    assert!(
        w.contains("name: GRIDDOCK_PUBLIC_HOST\n              # This pod's own address")
            && w.contains("fieldRef:\n                  fieldPath: status.hostIP"),
        "{w}"
    );
    assert!(
        w.contains("nodeSelector:\n        griddock.io/door: \"true\""),
        "{w}"
    );
    assert!(
        w.contains("claimName: cephfs-data") && w.contains("path: /var/lib/griddock"),
        "{w}"
    );
    assert!(
        w.contains("secretName: gd-griddock-tls")
            && w.contains("value: /etc/griddock/tls/tls.crt")
            && w.contains("name: GRIDDOCK_TLS__SOURCE\n              value: files"),
        "{w}"
    );
    assert!(
        w.contains(
            "mountPath: /var/lib/griddock/macaroon.key\n              subPath: macaroon.key"
        ) && w.contains("secretName: gd-macaroon"),
        "{w}"
    );
    assert!(
        !w.contains("podAntiAffinity"),
        "a DaemonSet needs no anti-affinity: {w}"
    );
    assert!(!m.contains("kind: Service") && !m.contains("kind: PersistentVolumeClaim"));
    let pdb = doc(&m, "PodDisruptionBudget");
    assert!(
        pdb.contains("apiVersion: policy/v1") && pdb.contains("maxUnavailable: 1"),
        "{pdb}"
    );
    assert!(pdb.contains("app.kubernetes.io/instance: gd"), "{pdb}");
    let cert = doc(&m, "Certificate");
    assert!(
        cert.contains("apiVersion: cert-manager.io/v1")
            && cert.contains("secretName: gd-griddock-tls")
            && cert.contains(
                "dnsNames:\n    - \"data.example.org\"\n    - \"door1.example.org\"\n    - \"door2.example.org\""
            )
            && cert.contains("kind: ClusterIssuer"),
        "{cert}"
    );

    // A Deployment of three on the host network: one per node (required anti-affinity),
    // one at a time on updates, each announcing its node's address (or name).
    for (announce, field) in [
        ("", "status.hostIP"),
        ("announce=nodeName", "spec.nodeName"),
    ] {
        let mut set = with(&[
            "replicaCount=3",
            "networking.hostNetwork=true",
            "persistence.state.type=emptyDir",
        ]);
        if !announce.is_empty() {
            set.push(announce);
        }
        lint(&helm, &set);
        let m = render(&helm, &set);
        validate(&kv, &m, "deployment x3 hostNetwork");
        let w = doc(&m, "Deployment");
        assert!(
            w.contains("replicas: 3") && w.contains("hostNetwork: true"),
            "{w}"
        );
        assert!(
            w.contains(
                "podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            - topologyKey: kubernetes.io/hostname"
            ),
            "{w}"
        );
        assert!(
            w.contains("maxSurge: 0") && w.contains("emptyDir: {}"),
            "{w}"
        );
        assert!(w.contains(&format!("fieldPath: {field}")), "{w}");
        assert!(doc(&m, "PodDisruptionBudget").contains("maxUnavailable: 1"));
        assert!(!m.contains("kind: Service"));
    }

    // Pod addresses on a routable pod network: a Service for the control ports only (the
    // passive ports are reached at each pod's own address), preferred anti-affinity.
    let m = render(
        &helm,
        &with(&[
            "replicaCount=2",
            "announce=podIP",
            "podAntiAffinity=soft",
            "persistence.state.type=emptyDir",
        ]),
    );
    validate(&kv, &m, "deployment x2 podIP");
    let w = doc(&m, "Deployment");
    assert!(
        w.contains("fieldPath: status.podIP")
            && w.contains("preferredDuringSchedulingIgnoredDuringExecution"),
        "{w}"
    );
    let svc = doc(&m, "Service");
    assert!(svc.contains("name: ftp") && !svc.contains("pasv-"), "{svc}");

    // One pod (the default): no PodDisruptionBudget, no anti-affinity, publicHost announced.
    let one = render(&helm, &["publicHost=data.example.org"]);
    assert!(!one.contains("PodDisruptionBudget") && !one.contains("affinity"));
    assert!(one.contains("replicas: 1") && one.contains("type: Recreate"));
    assert!(one.contains("name: GRIDDOCK_PUBLIC_HOST\n              value: \"data.example.org\""));

    // What cannot work is refused with the reason.
    for (set, why) in [
        (
            vec!["publicHost=x.org", "replicaCount=2"],
            "several pods cannot share one passive address",
        ),
        (
            vec![
                "publicHost=x.org",
                "replicaCount=2",
                "networking.hostNetwork=true",
            ],
            "several pods need one shared file system",
        ),
        (with(&["workload=daemonset"]), "state is per pod"),
        (
            with(&[
                "workload=daemonset",
                "persistence.state.type=emptyDir",
                "tls.source=acme",
            ]),
            "griddock's own ACME answers challenges from one pod",
        ),
        (
            vec!["publicHost=x.org", "workload=statefulset"],
            "workload must be deployment or daemonset",
        ),
        (
            vec!["publicHost=x.org", "announce=nodeIP"],
            "announce must be",
        ),
    ] {
        let err = render_err(&helm, &set);
        assert!(err.contains(why), "{set:?}: {err}");
    }
}

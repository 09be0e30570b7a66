"""Identities of the local cluster: its certificates (see pki.py) and a kubeconfig per identity."""

from __future__ import annotations

import base64
import ssl

import yaml

from archangel_helm.localcluster import pki
from archangel_helm.localcluster.settings import ADVERTISE_ADDRESS, CONTEXT, SERVICE_API_IP, Settings

_IDENTITIES = {
    # kubeconfig name -> (common name, groups)
    "super-admin": ("kubernetes-super-admin", ("system:masters",)),
    "admin": ("kubernetes-admin", ("kubeadm:cluster-admins",)),
    "controller-manager": ("system:kube-controller-manager", ()),
    "scheduler": ("system:kube-scheduler", ()),
    "node-simulator": ("archangel:node-simulator", ()),
}


def create_pki(settings: Settings) -> None:
    directory = settings.pki
    pki.create_ca(directory, "ca", "archangel-local-ca")
    pki.create_ca(directory, "front-proxy-ca", "archangel-local-front-proxy-ca")
    local = ("127.0.0.1",)
    specs = [
        pki.CertificateSpec(
            "apiserver",
            "kube-apiserver",
            pki.SERVER,
            dns_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            ip_addresses=(*local, ADVERTISE_ADDRESS, SERVICE_API_IP),
        ),
        pki.CertificateSpec("etcd-server", "etcd", pki.SERVER, dns_names=("localhost",), ip_addresses=local),
        # etcd's peer listener is both server and client to itself; one member still speaks TLS on it.
        pki.CertificateSpec("etcd-peer", "etcd-peer", pki.SERVER, dns_names=("localhost",), ip_addresses=local),
        pki.CertificateSpec("etcd-peer-client", "etcd-peer", pki.CLIENT),
        pki.CertificateSpec("apiserver-etcd-client", "kube-apiserver-etcd-client", pki.CLIENT),
        pki.CertificateSpec("front-proxy-client", "front-proxy-client", pki.CLIENT, signer="front-proxy-ca"),
        pki.CertificateSpec("controller-manager-serving", "kube-controller-manager", pki.SERVER, ip_addresses=local),
        pki.CertificateSpec("scheduler-serving", "kube-scheduler", pki.SERVER, ip_addresses=local),
    ]
    specs += [
        pki.CertificateSpec(f"{name}-client", common_name, pki.CLIENT, organizations=groups)
        for name, (common_name, groups) in _IDENTITIES.items()
    ]
    for spec in specs:
        pki.issue(directory, spec)
    pki.create_signing_key(directory / "sa.key")


def write_kubeconfigs(settings: Settings) -> None:
    ca = base64.b64encode((settings.pki / "ca.crt").read_bytes()).decode()
    for name in _IDENTITIES:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": CONTEXT, "cluster": {"server": settings.server, "certificate-authority-data": ca}}],
            "users": [
                {
                    "name": f"{CONTEXT}-{name}",
                    "user": {
                        "client-certificate-data": base64.b64encode(
                            (settings.pki / f"{name}-client.crt").read_bytes()
                        ).decode(),
                        "client-key-data": base64.b64encode(
                            (settings.pki / f"{name}-client.key").read_bytes()
                        ).decode(),
                    },
                }
            ],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": f"{CONTEXT}-{name}"}}],
            "current-context": CONTEXT,
        }
        path = settings.kubeconfig if name == "admin" else settings.pki / f"{name}.kubeconfig"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)


def client_context(settings: Settings, identity: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(settings.pki / "ca.crt"))
    context.load_cert_chain(str(settings.pki / f"{identity}.crt"), str(settings.pki / f"{identity}.key"))
    return context

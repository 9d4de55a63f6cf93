"""check_manifests.py - parses deploy/kubernetes/*.yaml (PyYAML) and checks
what the deployment depends on: the objects and their namespace, the Service
ports, the probes, the memory limit against storage.memory_limit, the
security context, and that the ConfigMap's configuration binds 0.0.0.0 and
keeps its data on the mounted volume. Prints the ConfigMap's flywheel.yaml
to the path given as second argument so check.sh can load it with flywheel.

usage: check_manifests.py DEPLOY_DIR OUT_CONFIG
"""
import os
import re
import sys

import yaml

UNITS = {"": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
         "KB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3}
K8S_UNITS = {"": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40,
             "k": 1000, "M": 1000 ** 2, "G": 1000 ** 3}

errors = []


def fail(msg):
    errors.append(msg)


def size(text, units):
    m = re.fullmatch(r"(\d+)\s*([A-Za-z]*)", str(text))
    if not m or m.group(2) not in units:
        raise ValueError("bad size %r" % text)
    return int(m.group(1)) * units[m.group(2)]


def main():
    deploy_dir, out_config = sys.argv[1], sys.argv[2]
    kdir = os.path.join(deploy_dir, "kubernetes")
    objs = {}
    for name in sorted(os.listdir(kdir)):
        if not name.endswith(".yaml"):
            continue
        with open(os.path.join(kdir, name), encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        for d in docs:
            for key in ("apiVersion", "kind", "metadata"):
                if key not in d:
                    fail("%s: %s missing" % (name, key))
            kind = d.get("kind")
            if kind != "Namespace" and d["metadata"].get("namespace") != "flywheel":
                fail("%s: %s not in namespace flywheel" % (name, kind))
            objs[kind] = d

    for kind in ("Namespace", "ConfigMap", "PersistentVolumeClaim", "Deployment", "Service"):
        if kind not in objs:
            fail("no %s" % kind)
    if errors:
        return

    svc = objs["Service"]["spec"]
    ports = {p["name"]: p["port"] for p in svc["ports"]}
    if ports != {"otlp-grpc": 4317, "otlp-http": 4318, "api": 4320}:
        fail("Service ports: %r" % ports)

    dep = objs["Deployment"]["spec"]
    if dep.get("replicas") != 1:
        fail("Deployment: replicas must be 1 (single writer)")
    if dep.get("strategy", {}).get("type") != "Recreate":
        fail("Deployment: strategy must be Recreate (single writer)")
    if dep["selector"]["matchLabels"] != svc["selector"]:
        fail("Service selector does not match the Deployment")
    pod = dep["template"]["spec"]
    if dep["template"]["metadata"]["labels"] != dep["selector"]["matchLabels"]:
        fail("Deployment: template labels do not match the selector")
    c = pod["containers"][0]
    cports = {p["name"]: p["containerPort"] for p in c["ports"]}
    if cports != ports:
        fail("container ports %r differ from the Service's" % cports)
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = c.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("port") not in ("api", 4320):
            fail("%s must GET %s on the api port" % (probe, path))

    sc = c.get("securityContext", {})
    psc = pod.get("securityContext", {})
    if not sc.get("readOnlyRootFilesystem"):
        fail("container: readOnlyRootFilesystem must be true")
    if sc.get("allowPrivilegeEscalation") is not False:
        fail("container: allowPrivilegeEscalation must be false")
    if sc.get("capabilities", {}).get("drop") != ["ALL"]:
        fail("container: capabilities must drop ALL")
    if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")) or psc.get("runAsUser", 1) == 0:
        fail("pod must run as non-root")

    cfg_text = objs["ConfigMap"]["data"]["flywheel.yaml"]
    cfg = yaml.safe_load(cfg_text)
    for sect in ("otlp_grpc", "otlp_http", "api"):
        listen = cfg.get(sect, {}).get("listen", "")
        if not listen.startswith("0.0.0.0:"):
            fail("ConfigMap: %s.listen %r must bind 0.0.0.0" % (sect, listen))
        elif int(listen.rsplit(":", 1)[1]) != cports[sect.replace("_", "-")]:
            fail("ConfigMap: %s.listen port differs from the container port" % sect)

    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    data_dir = cfg.get("storage", {}).get("data_dir")
    data_vol = [n for n, p in mounts.items() if p == data_dir]
    if not data_vol or "persistentVolumeClaim" not in vols[data_vol[0]]:
        fail("storage.data_dir %r is not on the persistent volume" % data_dir)
    elif vols[data_vol[0]]["persistentVolumeClaim"]["claimName"] != \
            objs["PersistentVolumeClaim"]["metadata"]["name"]:
        fail("the data volume does not use the PersistentVolumeClaim")
    if mounts.get("config") != "/etc/flywheel" or "--config" not in c.get("args", []):
        fail("the ConfigMap must be mounted at /etc/flywheel and passed with --config")

    budget = size(cfg["storage"]["memory_limit"], UNITS)
    limit = size(c["resources"]["limits"]["memory"], K8S_UNITS)
    request = size(c["resources"]["requests"]["memory"], K8S_UNITS)
    ratio = limit / budget
    if not 1.25 <= ratio <= 2.0:
        fail("memory limit %d is %.2f x storage.memory_limit %d; want 1.25-2" %
             (limit, ratio, budget))
    if request != limit:
        fail("memory request must equal the limit")

    with open(out_config, "w", encoding="utf-8") as f:
        f.write(cfg_text)


if __name__ == "__main__":
    main()
    for e in errors:
        print("check_manifests: " + e, file=sys.stderr)
    sys.exit(1 if errors else 0)

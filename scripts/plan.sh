#!/usr/bin/env bash
# `make plan`: archangel-helm plan ENV with the CRD schemas this machine can offer, so custom resources are
# validated too. In order: $ARCHANGEL_CRD_SCHEMAS; the upstream copies beside this checkout
# (../shared/crd-schemas); what `archangel-helm crds fetch` downloaded before, or downloads now. With none of
# them (no network, no cluster CRDs) the plan still runs and says loudly which custom resources it could not
# validate; STRICT_CRDS=1 makes that a failure. The site values are the documentation placeholders of
# values/examples/ (--example-values): plan your own by adding your site file to environments.yaml and running
# `archangel-helm plan ENV` without it.
set -euo pipefail
environment=${1:-production}
cd "$(dirname "$0")/.."

mode=error
if [ -z "${ARCHANGEL_CRD_SCHEMAS:-}" ]; then
  fetched=$(python -c 'from archangel_helm.crds.fetch import default_fetch_directory as d; print(d())')
  if [ -d ../shared/crd-schemas ]; then
    ARCHANGEL_CRD_SCHEMAS=$(cd ../shared/crd-schemas && pwd)
    export ARCHANGEL_CRD_SCHEMAS
  elif [ -z "$(find "$fetched" -type f \( -name '*.yaml' -o -name '*.json' \) 2>/dev/null | head -n 1)" ] \
      && ! archangel-helm crds fetch >/dev/null 2>&1; then
    echo "plan: no CRD schemas (no \$ARCHANGEL_CRD_SCHEMAS, no ../shared/crd-schemas, and \`archangel-helm crds fetch\` could not download them)" >&2
    if [ "${STRICT_CRDS:-0}" = 1 ]; then
      echo "plan: STRICT_CRDS=1: custom resources without a schema are errors" >&2
    else
      echo "plan: custom resources will be listed as NOT validated (STRICT_CRDS=1 to fail instead)" >&2
      mode=warn
    fi
  fi
fi
exec archangel-helm plan "$environment" --example-values --missing-crd-schemas "$mode"

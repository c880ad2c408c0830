#!/bin/sh
# A stand-in for the terraform / tofu CLI in tests. Installed (as a symlink named terraform or
# tofu) in a test's own bin directory, next to a file `scenario` naming a folder of
# terraform_replays/. It checks its arguments and working directory as the provider must call it,
# records every call in calls.log (working directory | arguments), and replays the recorded
# machine-readable output (the -json UI stream, `show -json`, `output -json`) of that scenario;
# files a scenario lacks come from `success`. Exit status: <command>.exit of the scenario, else 0.
set -u
here=$(cd "$(dirname "$0")" && pwd)
replays=$(dirname "$(readlink -f "$0")")/terraform_replays
scenario=$(cat "$here/scenario" 2>/dev/null || echo success)
echo "$PWD|$*" >> "$here/calls.log"

pick() {
  if [ -f "$replays/$scenario/$1" ]; then echo "$replays/$scenario/$1"; else echo "$replays/success/$1"; fi
}
replay() { cat "$(pick "$1")"; }
finish() {
  file=$(pick "$1.exit")
  if [ -f "$file" ]; then exit "$(cat "$file")"; fi
  exit 0
}
refuse() {
  echo "stand-in terraform: $*" >&2
  exit 2
}

command=${1:-}
[ -n "$command" ] || refuse "no command"
shift
[ -f main.tf.json ] || refuse "no main.tf.json in $PWD"
[ -f terraform.tfvars.json ] || refuse "no terraform.tfvars.json in $PWD"

case "$command" in
  init)
    [ "$*" = "-input=false -no-color" ] || refuse "unexpected init arguments: $*"
    mkdir -p .terraform
    echo "Terraform has been successfully initialized!"
    finish init ;;
  plan)
    [ -d .terraform ] || refuse "plan before init"
    if [ "$*" = "-refresh-only -input=false -json" ]; then
      replay refresh.jsonl
      finish refresh
    fi
    [ "$*" = "-input=false -out=tfplan -json" ] || refuse "unexpected plan arguments: $*"
    replay plan.jsonl
    echo "saved plan" > tfplan
    finish plan ;;
  apply)
    [ "$*" = "-input=false -json tfplan" ] || refuse "unexpected apply arguments: $*"
    [ -f tfplan ] || refuse "apply without a saved plan"
    replay apply.jsonl
    cp "$(pick state.json)" terraform.tfstate
    rm -f tfplan
    finish apply ;;
  destroy)
    [ -d .terraform ] || refuse "destroy before init"
    [ "$*" = "-auto-approve -input=false -json" ] || refuse "unexpected destroy arguments: $*"
    replay destroy.jsonl
    status=0
    [ -f "$(pick destroy.exit)" ] && status=$(cat "$(pick destroy.exit)")
    if [ "$status" = 0 ]; then
      echo '{"version":4,"terraform_version":"1.9.8","serial":3,"lineage":"dec-test","outputs":{},"resources":[]}' > terraform.tfstate
    fi
    exit "$status" ;;
  show)
    [ "$*" = "-json" ] || refuse "unexpected show arguments: $*"
    if [ -f terraform.tfstate ] && grep -q '"instances"' terraform.tfstate; then
      replay show.json
    else
      echo '{"format_version":"1.0"}'
    fi
    finish show ;;
  output)
    [ "$*" = "-json" ] || refuse "unexpected output arguments: $*"
    replay output.json
    finish output ;;
  *)
    refuse "unexpected command $command" ;;
esac

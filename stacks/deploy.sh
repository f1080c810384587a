#!/bin/sh
# Builds the image and pushes it to ECR as <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<version>.
#
#   yarn run deploy 1.2.3          (yarn classic appends the argument)
#   npm run deploy -- 1.2.3        (npm passes what follows --)
#
# The version: a release such as 1.2.3, v1.2.3 or 1.2.3-rc.1, or a git commit id (7 to 40 hex digits).
# Environment (nothing is hard-coded):
#   AWS_ACCOUNT_ID      default: aws sts get-caller-identity
#   AWS_REGION          default: AWS_DEFAULT_REGION, then aws configure get region
#   ECR_REPOSITORY      default: STACK_PREFIX, then rtmp-proxy (the ecr stack's RepositoryName, as stack-up.sh sets it)
#   DOCKER_PLATFORM     default: linux/amd64 (the service stack's CpuArchitecture X86_64)
# Then: sh ./stack-up.sh service ImageVersion=<version>
set -eu

usage() {
  echo "usage: yarn run deploy <version>   or   npm run deploy -- <version>" >&2
  echo "  <version>: 1.2.3, v1.2.3, 1.2.3-rc.1, or a git commit id (7-40 hex digits)" >&2
}
fail() {
  echo "deploy: $*" >&2
  exit 1
}

if [ $# -ne 1 ]; then
  if [ $# -eq 0 ]; then echo "deploy: the version is missing" >&2; else echo "deploy: expected one argument, the version; got $#" >&2; fi
  usage
  exit 2
fi
version=$1
# A Docker tag allows [A-Za-z0-9_.-]; of those, take release numbers and commit ids only, so that a
# stray word ("latest", a typo) never becomes an immutable tag in the registry.
valid=no
case "$version" in
  *[!A-Za-z0-9.-]* | "") ;;
  *)
    if printf '%s\n' "$version" | grep -Eq '^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?$' \
      || printf '%s\n' "$version" | grep -Eq '^[0-9a-f]{7,40}$'; then
      valid=yes
    fi
    ;;
esac
if [ "$valid" != yes ] || [ "${#version}" -gt 128 ]; then
  echo "deploy: \"$version\" is not a version" >&2
  usage
  exit 2
fi

cd "$(dirname -- "$0")/.."

region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
if [ -z "$region" ]; then
  region=$(aws configure get region || true)
fi
[ -n "$region" ] || fail "no AWS region: set AWS_REGION (or run aws configure)"
case "$region" in
  *[!a-z0-9-]*) fail "AWS_REGION=$region does not look like a region (e.g. eu-west-1)" ;;
esac

account=${AWS_ACCOUNT_ID:-}
if [ -z "$account" ]; then
  account=$(aws sts get-caller-identity --query Account --output text) || fail "could not read the account id (aws sts get-caller-identity); set AWS_ACCOUNT_ID or check your credentials"
fi
printf '%s\n' "$account" | grep -Eq '^[0-9]{12}$' || fail "the account id \"$account\" is not 12 digits"

repository=${ECR_REPOSITORY:-${STACK_PREFIX:-rtmp-proxy}}
platform=${DOCKER_PLATFORM:-linux/amd64}
registry="$account.dkr.ecr.$region.amazonaws.com"
local_image="rtmp-proxy:$version"
remote_image="$registry/$repository:$version"

echo "deploy: logging in to $registry" >&2
# The password goes through a pipe, never onto a command line.
password=$(aws ecr get-login-password --region "$region") || fail "aws ecr get-login-password failed"
printf '%s' "$password" | docker login --username AWS --password-stdin "$registry"
unset password

echo "deploy: building $local_image ($platform)" >&2
docker build --platform "$platform" --label "org.opencontainers.image.version=$version" --tag "$local_image" .
docker tag "$local_image" "$remote_image"
echo "deploy: pushing $remote_image" >&2
docker push "$remote_image"

echo "deploy: pushed $remote_image" >&2
echo "deploy: next: sh ./stack-up.sh service ImageVersion=$version" >&2

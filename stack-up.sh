#!/bin/sh
# Creates or updates one of rtmp-proxy's CloudFormation stacks.
#
#   sh ./stack-up.sh ecr                                   the image repository (once)
#   sh ./stack-up.sh service ImageVersion=1.2.3 ClusterName=live VpcId=vpc-... SubnetIds=subnet-a,subnet-b
#   sh ./stack-up.sh server-scaling ServerClusterName=media ServerServiceName=rtmp-server   (optional)
#
# Key=Value arguments are the template's parameters (stacks/<stack>.yml); on an update, every
# parameter not given keeps its previous value. Region and credentials are the AWS CLI's own
# (AWS_REGION, AWS_PROFILE, ...). STACK_PREFIX (default rtmp-proxy) names the stacks <prefix>-<stack>.
# The walkthrough: stacks/README.md.
set -eu

usage() {
  cat >&2 <<'USAGE'
usage: sh ./stack-up.sh ecr|service|server-scaling [Key=Value ...]
  ecr             the ECR repository the deploy script pushes to (stack <prefix>-ecr)
  service         the Fargate service, its roles, security group and Route 53 records (stack <prefix>-service)
  server-scaling  scales the Server service on the Proxies' capacity metrics (stack <prefix>-server-scaling)
  Key=Value template parameters, e.g. ImageVersion=1.2.3 (see stacks/<stack>.yml)
USAGE
}

if [ $# -lt 1 ]; then
  usage
  exit 2
fi
stack=$1
shift
case "$stack" in
  ecr | service | server-scaling) ;;
  -h | --help | help)
    usage
    exit 0
    ;;
  *)
    echo "stack-up: unknown stack \"$stack\"" >&2
    usage
    exit 2
    ;;
esac

for override in "$@"; do
  case "$override" in
    [A-Za-z]*=*)
      case "${override%%=*}" in
        *[!A-Za-z0-9]*)
          echo "stack-up: \"$override\" is not Key=Value (a template parameter name, then =)" >&2
          exit 2
          ;;
      esac
      ;;
    *)
      echo "stack-up: \"$override\" is not Key=Value (a template parameter name, then =)" >&2
      exit 2
      ;;
  esac
done

cd "$(dirname -- "$0")"
prefix=${STACK_PREFIX:-rtmp-proxy}

# Each prefix its own ECR repository, named after it (deploy.sh pushes there with the same STACK_PREFIX).
if [ "$stack" = ecr ]; then
  case " $* " in
    *" RepositoryName="*) ;;
    *) set -- "RepositoryName=$prefix" "$@" ;;
  esac
fi

# The service stack imports the ecr stack's outputs: point it at the ecr stack of the same prefix.
if [ "$stack" = service ]; then
  case " $* " in
    *" EcrStackName="*) ;;
    *) set -- "EcrStackName=$prefix-ecr" "$@" ;;
  esac
fi

if [ $# -gt 0 ]; then
  set -- --parameter-overrides "$@"
fi
set -- cloudformation deploy \
  --template-file "stacks/$stack.yml" \
  --stack-name "$prefix-$stack" \
  --capabilities CAPABILITY_NAMED_IAM \
  --no-fail-on-empty-changeset \
  --tags app=rtmp-proxy \
  "$@"
echo "stack-up: aws $*" >&2
exec aws "$@"

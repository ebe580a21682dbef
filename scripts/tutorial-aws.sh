#!/usr/bin/env bash
# The tutorial's AWS commands ("Kubernetes from the ground up on AWS"), one
# `aws` CLI call at a time with IDs kept in shell variables, as its readers
# type them; values from the seed cluster. Used by the benchmark to compare
# with `kpki bootstrap --provider aws` against the same emulator.
# Needs `aws` (awscli) and AWS_ENDPOINT_URL/credentials in the environment.
set -euo pipefail
out=${1:?usage: tutorial-aws.sh OUT_DIR}
mkdir -p "$out"
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-2}
name=kubernetes

VPC_ID=$(aws ec2 create-vpc --cidr-block 172.31.0.0/16 --output text --query 'Vpc.VpcId')
aws ec2 create-tags --resources ${VPC_ID} --tags Key=Name,Value=${name}
aws ec2 modify-vpc-attribute --vpc-id ${VPC_ID} --enable-dns-support '{"Value": true}'
aws ec2 modify-vpc-attribute --vpc-id ${VPC_ID} --enable-dns-hostnames '{"Value": true}'

DHCP_OPTION_SET_ID=$(aws ec2 create-dhcp-options \
  --dhcp-configuration "Key=domain-name,Values=us-east-2.compute.internal" "Key=domain-name-servers,Values=AmazonProvidedDNS" \
  --output text --query 'DhcpOptions.DhcpOptionsId')
aws ec2 create-tags --resources ${DHCP_OPTION_SET_ID} --tags Key=Name,Value=${name}
aws ec2 associate-dhcp-options --dhcp-options-id ${DHCP_OPTION_SET_ID} --vpc-id ${VPC_ID}

SUBNET_ID=$(aws ec2 create-subnet --vpc-id ${VPC_ID} --cidr-block 172.31.0.0/24 --output text --query 'Subnet.SubnetId')
aws ec2 create-tags --resources ${SUBNET_ID} --tags Key=Name,Value=${name}

INTERNET_GATEWAY_ID=$(aws ec2 create-internet-gateway --output text --query 'InternetGateway.InternetGatewayId')
aws ec2 create-tags --resources ${INTERNET_GATEWAY_ID} --tags Key=Name,Value=${name}
aws ec2 attach-internet-gateway --internet-gateway-id ${INTERNET_GATEWAY_ID} --vpc-id ${VPC_ID}

ROUTE_TABLE_ID=$(aws ec2 create-route-table --vpc-id ${VPC_ID} --output text --query 'RouteTable.RouteTableId')
aws ec2 create-tags --resources ${ROUTE_TABLE_ID} --tags Key=Name,Value=${name}
aws ec2 associate-route-table --route-table-id ${ROUTE_TABLE_ID} --subnet-id ${SUBNET_ID} >/dev/null
aws ec2 create-route --route-table-id ${ROUTE_TABLE_ID} --destination-cidr-block 0.0.0.0/0 --gateway-id ${INTERNET_GATEWAY_ID} >/dev/null

SECURITY_GROUP_ID=$(aws ec2 create-security-group --group-name ${name} --description "Kubernetes security group" --vpc-id ${VPC_ID} --output text --query 'GroupId')
aws ec2 create-tags --resources ${SECURITY_GROUP_ID} --tags Key=Name,Value=${name}
aws ec2 authorize-security-group-ingress --group-id ${SECURITY_GROUP_ID} --protocol tcp --port 2379-2380 --cidr 172.31.0.0/24 >/dev/null
aws ec2 authorize-security-group-ingress --group-id ${SECURITY_GROUP_ID} --protocol tcp --port 30000-32767 --cidr 172.31.0.0/24 >/dev/null
aws ec2 authorize-security-group-ingress --group-id ${SECURITY_GROUP_ID} --protocol tcp --port 6443 --cidr 0.0.0.0/0 >/dev/null
aws ec2 authorize-security-group-ingress --group-id ${SECURITY_GROUP_ID} --protocol tcp --port 22 --cidr 0.0.0.0/0 >/dev/null
aws ec2 authorize-security-group-ingress --group-id ${SECURITY_GROUP_ID} --protocol icmp --port -1 --cidr 0.0.0.0/0 >/dev/null

LOAD_BALANCER_ARN=$(aws elbv2 create-load-balancer --name ${name} --subnets ${SUBNET_ID} --scheme internet-facing --type network --output text --query 'LoadBalancers[].LoadBalancerArn')
TARGET_GROUP_ARN=$(aws elbv2 create-target-group --name ${name} --protocol TCP --port 6443 --vpc-id ${VPC_ID} --target-type ip --output text --query 'TargetGroups[].TargetGroupArn')
aws elbv2 register-targets --target-group-arn ${TARGET_GROUP_ARN} --targets Id=172.31.0.1{0,1,2}
aws elbv2 create-listener --load-balancer-arn ${LOAD_BALANCER_ARN} --protocol TCP --port 6443 \
  --default-actions Type=forward,TargetGroupArn=${TARGET_GROUP_ARN} --output text --query 'Listeners[].ListenerArn' >/dev/null
KUBERNETES_PUBLIC_ADDRESS=$(aws elbv2 describe-load-balancers --load-balancer-arns ${LOAD_BALANCER_ARN} --output text --query 'LoadBalancers[].DNSName')

IMAGE_ID=$(aws ec2 describe-images --owners 099720109477 \
  --filters 'Name=root-device-type,Values=ebs' 'Name=architecture,Values=x86_64' \
  'Name=name,Values=ubuntu-pro-server/images/hvm-ssd/ubuntu-xenial-16.04-amd64-pro-server-20221202' \
  --output text --query 'sort_by(Images, &Name)[-1].ImageId')

aws ec2 create-key-pair --key-name ${name} --output text --query 'KeyMaterial' > "$out/${name}.id_rsa"
chmod 600 "$out/${name}.id_rsa"

for i in 0 1 2; do
  instance_id=$(aws ec2 run-instances --associate-public-ip-address --image-id ${IMAGE_ID} --count 1 \
    --key-name ${name} --security-group-ids ${SECURITY_GROUP_ID} --instance-type t2.micro \
    --private-ip-address 172.31.0.1${i} --user-data "name=master-${i}" --subnet-id ${SUBNET_ID} \
    --output text --query 'Instances[].InstanceId')
  aws ec2 modify-instance-attribute --instance-id ${instance_id} --no-source-dest-check
  aws ec2 create-tags --resources ${instance_id} --tags "Key=Name,Value=master-${i}"
done
for i in 0 1 2; do
  instance_id=$(aws ec2 run-instances --associate-public-ip-address --image-id ${IMAGE_ID} --count 1 \
    --key-name ${name} --security-group-ids ${SECURITY_GROUP_ID} --instance-type t2.micro \
    --private-ip-address 172.31.0.2${i} --user-data "name=worker-${i}|pod-cidr=172.20.${i}.0/24" --subnet-id ${SUBNET_ID} \
    --output text --query 'Instances[].InstanceId')
  aws ec2 modify-instance-attribute --instance-id ${instance_id} --no-source-dest-check
  aws ec2 create-tags --resources ${instance_id} --tags "Key=Name,Value=worker-${i}"
done
echo "${KUBERNETES_PUBLIC_ADDRESS}" > "$out/api-address"

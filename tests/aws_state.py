"""Reads a cluster's AWS end state through the emulator's API with boto3 (an
implementation independent of kpki's) and prints it as JSON for tests/aws.rs.

usage: aws_state.py ENDPOINT CLUSTER
"""
import base64
import json
import sys

import boto3

endpoint, cluster = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=endpoint, region_name="us-east-2", aws_access_key_id="testing", aws_secret_access_key="testing")
ec2 = boto3.client("ec2", **kw)
elb = boto3.client("elbv2", **kw)
tag = f"kubernetes.io/cluster/{cluster}"
owned = [{"Name": f"tag:{tag}", "Values": ["owned"]}]


def name_of(tags):
    return next((t["Value"] for t in tags or [] if t["Key"] == "Name"), None)


out = {}
vpcs = ec2.describe_vpcs(Filters=owned)["Vpcs"]
out["vpcs"] = [
    {
        "id": v["VpcId"],
        "cidr": v["CidrBlock"],
        "dhcp": v.get("DhcpOptionsId"),
        "dns_support": ec2.describe_vpc_attribute(VpcId=v["VpcId"], Attribute="enableDnsSupport")["EnableDnsSupport"]["Value"],
        "dns_hostnames": ec2.describe_vpc_attribute(VpcId=v["VpcId"], Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"],
        "tags": {t["Key"]: t["Value"] for t in v.get("Tags", [])},
    }
    for v in vpcs
]
out["dhcp"] = [
    {"id": d["DhcpOptionsId"], "config": {c["Key"]: [x["Value"] for x in c["Values"]] for c in d["DhcpConfigurations"]}}
    for d in ec2.describe_dhcp_options(Filters=owned)["DhcpOptions"]
]
out["subnets"] = [
    {"id": s["SubnetId"], "cidr": s["CidrBlock"], "vpc": s["VpcId"], "tags": {t["Key"]: t["Value"] for t in s.get("Tags", [])}}
    for s in ec2.describe_subnets(Filters=owned)["Subnets"]
]
out["igws"] = [
    {"id": g["InternetGatewayId"], "vpcs": [a["VpcId"] for a in g.get("Attachments", [])]}
    for g in ec2.describe_internet_gateways(Filters=owned)["InternetGateways"]
]
out["route_tables"] = [
    {
        "id": r["RouteTableId"],
        "subnets": [a["SubnetId"] for a in r.get("Associations", []) if a.get("SubnetId")],
        "default_gw": next((x.get("GatewayId") for x in r["Routes"] if x.get("DestinationCidrBlock") == "0.0.0.0/0"), None),
    }
    for r in ec2.describe_route_tables(Filters=owned)["RouteTables"]
]
out["sgs"] = [
    {
        "id": g["GroupId"],
        "name": g["GroupName"],
        "vpc": g.get("VpcId"),
        "rules": sorted(
            [p["IpProtocol"], p.get("FromPort", -1), p.get("ToPort", -1), r["CidrIp"]] for p in g["IpPermissions"] for r in p.get("IpRanges", [])
        ),
    }
    for g in ec2.describe_security_groups(Filters=owned)["SecurityGroups"]
]
out["key_pairs"] = [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"] if k["KeyName"] == cluster]
instances = []
for res in ec2.describe_instances(Filters=owned)["Reservations"]:
    for i in res["Instances"]:
        if i["State"]["Name"] in ("terminated", "shutting-down"):
            continue
        ud = ec2.describe_instance_attribute(InstanceId=i["InstanceId"], Attribute="userData").get("UserData", {}).get("Value")
        instances.append(
            {
                "id": i["InstanceId"],
                "name": name_of(i.get("Tags")),
                "tags": {t["Key"]: t["Value"] for t in i.get("Tags", [])},
                "role": next((t["Value"] for t in i.get("Tags", []) if t["Key"] == "kpki:role"), None),
                "state": i["State"]["Name"],
                "type": i["InstanceType"],
                "image": i["ImageId"],
                "key": i.get("KeyName"),
                "subnet": i.get("SubnetId"),
                "sgs": sorted({g["GroupId"] for g in i.get("SecurityGroups", [])} | {g["GroupId"] for n in i.get("NetworkInterfaces", []) for g in n.get("Groups", [])}),
                "private_ip": i.get("PrivateIpAddress"),
                "public_ip": i.get("PublicIpAddress"),
                "private_dns": i.get("PrivateDnsName"),
                "source_dest_check": i.get("SourceDestCheck"),
                "user_data": base64.b64decode(ud).decode() if ud else None,
            }
        )
out["instances"] = sorted(instances, key=lambda i: i["name"] or "")
lbs = [lb for lb in elb.describe_load_balancers()["LoadBalancers"] if lb["LoadBalancerName"] == cluster]
out["lbs"] = [
    {
        "arn": lb["LoadBalancerArn"],
        "dns": lb["DNSName"],
        "scheme": lb["Scheme"],
        "type": lb["Type"],
        "state": lb["State"]["Code"],
        "subnets": [z.get("SubnetId") for z in lb.get("AvailabilityZones", [])],
        "tags": {t["Key"]: t["Value"] for d in elb.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"] for t in d["Tags"]},
    }
    for lb in lbs
]
tgs = [t for t in elb.describe_target_groups()["TargetGroups"] if t["TargetGroupName"] == f"{cluster}-targets"]
out["tgs"] = [
    {
        "arn": t["TargetGroupArn"],
        "port": t["Port"],
        "protocol": t["Protocol"],
        "target_type": t["TargetType"],
        "vpc": t.get("VpcId"),
        "targets": sorted(d["Target"]["Id"] for d in elb.describe_target_health(TargetGroupArn=t["TargetGroupArn"])["TargetHealthDescriptions"]),
    }
    for t in tgs
]
out["listeners"] = [
    {"port": l["Port"], "protocol": l["Protocol"], "tg": l["DefaultActions"][0].get("TargetGroupArn")}
    for lb in lbs
    for l in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
]
# Everything that exists and carries the cluster tag (moto keeps stale tags of
# deleted resources in DescribeTags, so count the resources themselves).
out["tagged_count"] = sum(len(out[k]) for k in ("vpcs", "dhcp", "subnets", "igws", "route_tables", "sgs", "instances", "key_pairs", "lbs", "tgs"))
print(json.dumps(out, indent=1, sort_keys=True))

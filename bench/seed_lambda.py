# Verbatim copy of the seed's Lambda handler, for the benchmark only (bench/seed_loop.py).
#
# Source: the seed text ../shared/seed/000_4d772bf91f84b3a9.txt (from the repository root), blog post "Updating Launch
# Templates with Lambda" (2020-02-29, slug lambda-update-ami), section "Lambda function", the
# ```python code block. Everything below the END OF HEADER line is that block, byte for byte
# (bench/run.sh checks it against the seed text when the seed file is present). Do not edit it:
# the benchmark measures the seed's logic as published, bugs included.
# ---- END OF HEADER ----
# lambda_function.py
import boto3
import os
from datetime import datetime, timezone, timedelta


def lambda_handler(event, context):

    # Get values from Lambda environment variables.
    launch_template_id = os.environ["launch_template_id"]
    image_id_ssm_parameter = os.environ["image_id_ssm_parameter"]
    sns_arn = os.environ["sns_arn"]
    asg_name = os.environ["asg_name"]

    # Create boto3 clients
    ssm_client = boto3.client("ssm")
    ec2_client = boto3.client("ec2")
    asg_client = boto3.client("autoscaling")
    sns_client = boto3.client("sns")

    def get_latest_ecs_ami():
        response = ssm_client.get_parameter(
            Name=image_id_ssm_parameter,
        )
        latest_ecs_ami = response["Parameter"]["Value"]
        print(f"Latest ECS-Optimized AMI: {latest_ecs_ami}")
        return latest_ecs_ami

    def get_current_launch_template_ami():
        response = ec2_client.describe_launch_template_versions(
            LaunchTemplateId=launch_template_id,
            Versions=[
                "$Latest",
            ],
        )
        current_launch_template_ami = (
            response["LaunchTemplateVersions"][0]
                    ["LaunchTemplateData"]["ImageId"]
        )
        print(f"Current Launch Template AMI: {current_launch_template_ami}")
        return current_launch_template_ami

    def update_current_launch_template_ami(ami):
        response = ec2_client.create_launch_template_version(
            LaunchTemplateId=launch_template_id,
            SourceVersion="$Latest",
            VersionDescription="Latest-AMI",
            LaunchTemplateData={
                "ImageId": ami
            }
        )
        print(f"New launch template created with AMI: {ami}")

    def set_launch_template_default_version():
        response = ec2_client.modify_launch_template(
            LaunchTemplateId=launch_template_id,
            DefaultVersion="$Latest"
        )
        previous_version = str(
            int(response["LaunchTemplate"]["LatestVersionNumber"]) - 2)

        response = ec2_client.delete_launch_template_versions(
            LaunchTemplateId=launch_template_id,
            Versions=[
                previous_version,
            ]
        )
        print(f"Launch template {previous_version} deleted.")

    def create_asg_scheduled_action(start_time, desired_capacity):
        response = asg_client.put_scheduled_update_group_action(
            AutoScalingGroupName=asg_name,
            ScheduledActionName=f"Desire {desired_capacity}",
            StartTime=start_time,
            DesiredCapacity=desired_capacity
        )

    def send_sns_notification(subject, message):
        response = sns_client.publish(
            TargetArn=sns_arn,
            Message=message,
            Subject=subject,
        )
        print("Notification email sent.")

    def check_amis_and_update_if_needed():
        latest_ecs_ami = get_latest_ecs_ami()
        current_launch_template_ami = get_current_launch_template_ami()

        if current_launch_template_ami != latest_ecs_ami:
            # Update template AMI and set as default
            update_current_launch_template_ami(latest_ecs_ami)
            set_launch_template_default_version()

            # Create future ASG actions to roll out the new AMI
            now_utc = datetime.now(timezone.utc)
            in_01_min = now_utc + timedelta(minutes=1)
            in_15_min = now_utc + timedelta(minutes=15)
            create_asg_scheduled_action(in_01_min, 2)
            create_asg_scheduled_action(in_15_min, 1)

            # Sent a notification that the update succeeded.
            subject = "AMI updated!"
            message = f"AMI updated! New AMI is {latest_ecs_ami}."
            send_sns_notification(subject, message)
            return message
        else:
            subject = "AMI is current."
            message = "AMI was not updated. AMI is current."
            # Uncomment below to be notified every time the Lambda runs.
            #send_sns_notification(subject, message)
            return message

    ami_status = check_amis_and_update_if_needed()

    # Show if AMI was updated in CloudWatch log group.
    print(ami_status)

    # Show if AMI was updated in Lambda console.
    return ami_status


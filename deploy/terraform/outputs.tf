output "api_url" {
  description = "Base URL of dec's API and web app (give it to deploy/cd-replace --url)."
  value       = "http://${var.public_ip ? aws_eip.this[0].public_ip : aws_instance.this.private_ip}:${var.api_port}"
}

output "instance_id" {
  description = "ID of the VM."
  value       = aws_instance.this.id
}

output "public_ip" {
  description = "Elastic IP of the VM (null without public_ip)."
  value       = var.public_ip ? aws_eip.this[0].public_ip : null
}

output "private_ip" {
  description = "Private address of the VM."
  value       = aws_instance.this.private_ip
}

output "security_group_id" {
  description = "ID of the security group admitting allowed_cidrs on the API port."
  value       = aws_security_group.this.id
}

output "data_volume_id" {
  description = "ID of the EBS volume holding /var/lib/dec (queue, results); kept when the VM is replaced."
  value       = aws_ebs_volume.data.id
}

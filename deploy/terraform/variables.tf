variable "name" {
  description = "Name of the VM, its security group and data volume (tag Name), and the prefix of their other names."
  type        = string
  default     = "dec"
}

variable "image" {
  description = "Container image of dec (built from deploy/Containerfile and pushed to a registry the VM can pull from without credentials), e.g. registry.example.com/dec:1.4.0. Changing it replaces the VM; the data volume, and so the queue, is kept."
  type        = string
}

variable "api_token" {
  description = "Token every API request must carry (Authorization: Bearer ...). It reaches the VM through user data, so it is readable by anyone allowed ec2:DescribeInstanceAttribute and is kept in the Terraform state."
  type        = string
  sensitive   = true
  validation {
    condition     = length(var.api_token) >= 16
    error_message = "api_token: use at least 16 characters (e.g. openssl rand -hex 24)."
  }
}

variable "allowed_cidrs" {
  description = "The networks that may reach the API port (IPv4 CIDRs, e.g. [\"203.0.113.0/24\"]). Nothing else is admitted, apart from SSH from ssh_cidrs."
  type        = list(string)
  validation {
    condition     = length(var.allowed_cidrs) > 0 && alltrue([for c in var.allowed_cidrs : can(cidrhost(c, 0))])
    error_message = "allowed_cidrs: give at least one IPv4 CIDR such as 203.0.113.0/24."
  }
}

variable "api_port" {
  description = "Port the API and web app listen on, on the VM."
  type        = number
  default     = 8080
  validation {
    condition     = var.api_port >= 1 && var.api_port <= 65535 && floor(var.api_port) == var.api_port
    error_message = "api_port: expected a port number from 1 to 65535."
  }
}

variable "subnet_id" {
  description = "Subnet to start the VM in; its VPC gets the security group and its availability zone the data volume."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type. dec runs the brokers of an experiment on this VM, so give it the cores and memory the experiments need."
  type        = string
  default     = "m6i.large"
}

variable "ami_id" {
  description = "AMI to boot; null: the latest Debian 12 (amd64) image published by Debian."
  type        = string
  default     = null
}

variable "root_volume_gb" {
  description = "Size of the root volume (operating system and container images), GiB."
  type        = number
  default     = 20
}

variable "data_volume_gb" {
  description = "Size of the data volume mounted at /var/lib/dec (the queue, results and broker data), GiB. It outlives the VM."
  type        = number
  default     = 50
}

variable "public_ip" {
  description = "Give the VM an Elastic IP, so the API's address stays the same when the VM is replaced. false: only the private address."
  type        = bool
  default     = true
}

variable "private_ip" {
  description = "Fixed private address in the subnet (keeps api_url stable without public_ip); null: any."
  type        = string
  default     = null
}

variable "key_name" {
  description = "EC2 key pair for SSH; null: none."
  type        = string
  default     = null
}

variable "ssh_cidrs" {
  description = "Networks admitted on port 22; empty (the default): no SSH rule."
  type        = list(string)
  default     = []
}

variable "stop_timeout_s" {
  description = "Seconds the container gets to stop the running experiment and destroy its infrastructure when stopped (SIGTERM) before it is killed."
  type        = number
  default     = 300
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

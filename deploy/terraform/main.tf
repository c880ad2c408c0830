# One VM that runs dec's container image (deploy/Containerfile) with podman under systemd, a
# security group that admits only var.allowed_cidrs on the API port, and a data volume for
# /var/lib/dec that outlives the VM: replacing the VM (a new var.image) keeps the queue. No IAM
# role or instance profile. See deploy/README.md.

data "aws_subnet" "this" {
  id = var.subnet_id
}

data "aws_ami" "debian12" {
  count       = var.ami_id == null ? 1 : 0
  most_recent = true
  owners      = ["136693071363"] # Debian's own AWS account
  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }
  filter {
    name   = "architecture"
    values = ["x86_64"]
  }
}

locals {
  ami_id = var.ami_id != null ? var.ami_id : data.aws_ami.debian12[0].id
  tags   = merge(var.tags, { Name = var.name })
}

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-"
  description = "dec API from allowed networks only"
  vpc_id      = data.aws_subnet.this.vpc_id
  tags        = local.tags

  ingress {
    description = "dec API and web app"
    from_port   = var.api_port
    to_port     = var.api_port
    protocol    = "tcp"
    cidr_blocks = var.allowed_cidrs
  }

  dynamic "ingress" {
    for_each = length(var.ssh_cidrs) > 0 ? [1] : []
    content {
      description = "SSH"
      from_port   = 22
      to_port     = 22
      protocol    = "tcp"
      cidr_blocks = var.ssh_cidrs
    }
  }

  # Package and image downloads, and the systems a spec with deploy.provider: endpoints measures.
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_ebs_volume" "data" {
  availability_zone = data.aws_subnet.this.availability_zone
  size              = var.data_volume_gb
  type              = "gp3"
  encrypted         = true
  tags              = merge(local.tags, { Name = "${var.name}-data" })
}

resource "aws_instance" "this" {
  ami                    = local.ami_id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_id
  private_ip             = var.private_ip
  vpc_security_group_ids = [aws_security_group.this.id]
  key_name               = var.key_name
  tags                   = local.tags

  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    image          = var.image
    api_port       = var.api_port
    token_base64   = base64encode(var.api_token)
    data_volume_id = aws_ebs_volume.data.id
    stop_timeout_s = var.stop_timeout_s
    # systemd waits this long for `podman stop` before killing the container.
    unit_stop_timeout_s = var.stop_timeout_s + 30
  })
  # A new image is a new VM (cd-replace runs `terraform apply` once the old one is idle).
  user_data_replace_on_change = true

  metadata_options {
    http_tokens = "required"
  }

  root_block_device {
    volume_size = var.root_volume_gb
    volume_type = "gp3"
    encrypted   = true
  }
}

resource "aws_volume_attachment" "data" {
  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.data.id
  instance_id = aws_instance.this.id
  # Stop the old VM before detaching, so the file system is unmounted cleanly on replacement.
  stop_instance_before_detaching = true
}

resource "aws_eip" "this" {
  count    = var.public_ip ? 1 : 0
  domain   = "vpc"
  instance = aws_instance.this.id
  tags     = local.tags
}

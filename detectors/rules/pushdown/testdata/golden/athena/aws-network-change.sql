-- rule: aws-network-change
-- status: coarse
-- coarse: requestParameters may hold an array or object
-- coarse: requestParameters.ModifySecurityGroupRulesRequest.SecurityGroupRule.SecurityGroupRule may hold an array or object
-- coarse: requestParameters.PutAccessPointPolicyRequest.Policy may hold an array or object
-- coarse: requestParameters.PutAccessPointPolicyRequest.Policy: policy
-- coarse: requestParameters.accessPolicies may hold an array or object
-- coarse: requestParameters.accessPolicies: policy
-- coarse: requestParameters.accountIdsToAdd may hold an array or object
-- coarse: requestParameters.accountIdsToAdd: foreign_account
-- coarse: requestParameters.accountWithRestoreAccess may hold an array or object
-- coarse: requestParameters.accountWithRestoreAccess: foreign_account
-- coarse: requestParameters.allowExternalPrincipals may hold an array or object
-- coarse: requestParameters.assumeRolePolicyDocument may hold an array or object
-- coarse: requestParameters.assumeRolePolicyDocument: policy
-- coarse: requestParameters.attributeName may hold an array or object
-- coarse: requestParameters.attributeValue may hold an array or object
-- coarse: requestParameters.attributeValue: policy
-- coarse: requestParameters.attributes.Policy may hold an array or object
-- coarse: requestParameters.attributes.Policy: policy
-- coarse: requestParameters.bucketPolicy may hold an array or object
-- coarse: requestParameters.bucketPolicy: policy
-- coarse: requestParameters.cidrBlock may hold an array or object
-- coarse: requestParameters.cidrIp may hold an array or object
-- coarse: requestParameters.cidrIpv6 may hold an array or object
-- coarse: requestParameters.consumerIdentifier may hold an array or object
-- coarse: requestParameters.consumerIdentifier: foreign_account
-- coarse: requestParameters.createRestApiInput.policy may hold an array or object
-- coarse: requestParameters.createRestApiInput.policy: policy
-- coarse: requestParameters.createVolumePermission.add.items.userId may hold an array or object
-- coarse: requestParameters.createVolumePermission.add.items.userId: foreign_account
-- coarse: requestParameters.eC2SecurityGroupOwnerId may hold an array or object
-- coarse: requestParameters.eC2SecurityGroupOwnerId: foreign_account
-- coarse: requestParameters.egress may hold an array or object
-- coarse: requestParameters.fromPort may hold an array or object
-- coarse: requestParameters.granteePrincipal may hold an array or object
-- coarse: requestParameters.granteePrincipal: foreign_account
-- coarse: requestParameters.ipPermissions.items may hold an array or object
-- coarse: requestParameters.ipProtocol may hold an array or object
-- coarse: requestParameters.ipv6CidrBlock may hold an array or object
-- coarse: requestParameters.launchPermission.add.items.userId may hold an array or object
-- coarse: requestParameters.launchPermission.add.items.userId: foreign_account
-- coarse: requestParameters.operationType may hold an array or object
-- coarse: requestParameters.patch.patchOperations.value may hold an array or object
-- coarse: requestParameters.patch.patchOperations.value: policy
-- coarse: requestParameters.patchOperations.value may hold an array or object
-- coarse: requestParameters.patchOperations.value: policy
-- coarse: requestParameters.peerOwnerId may hold an array or object
-- coarse: requestParameters.peerOwnerId: foreign_account
-- coarse: requestParameters.policy may hold an array or object
-- coarse: requestParameters.policy.policy may hold an array or object
-- coarse: requestParameters.policy.policy: policy
-- coarse: requestParameters.policy: policy
-- coarse: requestParameters.policyDocument may hold an array or object
-- coarse: requestParameters.policyDocument: policy
-- coarse: requestParameters.policyInJson may hold an array or object
-- coarse: requestParameters.policyInJson: policy
-- coarse: requestParameters.policyText may hold an array or object
-- coarse: requestParameters.policyText: policy
-- coarse: requestParameters.portRange.from may hold an array or object
-- coarse: requestParameters.portRange.to may hold an array or object
-- coarse: requestParameters.principal may hold an array or object
-- coarse: requestParameters.principal: foreign_account
-- coarse: requestParameters.principals may hold an array or object
-- coarse: requestParameters.principals: foreign_account
-- coarse: requestParameters.protocol may hold an array or object
-- coarse: requestParameters.resourcePolicy may hold an array or object
-- coarse: requestParameters.resourcePolicy: policy
-- coarse: requestParameters.ruleAction may hold an array or object
-- coarse: requestParameters.toPort may hold an array or object
-- coarse: requestParameters.userId may hold an array or object
-- coarse: requestParameters.userId: foreign_account
-- coarse: requestParameters.valuesToAdd may hold an array or object
-- coarse: requestParameters.valuesToAdd: foreign_account
-- coarse: requestParameters: foreign_account
-- coarse: superseded_by aws-network-acl-open-to-world is not exact
-- coarse: superseded_by aws-resource-shared-with-account is not exact
-- coarse: superseded_by aws-security-group-open-to-world is not exact
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND NOT (COALESCE((sourceipaddress = 'cloudformation.amazonaws.com' OR regexp_like(lower(NULLIF(CASE WHEN strpos(useridentity.arn, ':assumed-role/') > 0 THEN regexp_extract(useridentity.arn, ':assumed-role/([^/]*)', 1) WHEN strpos(useridentity.arn, ':user/') > 0 THEN regexp_extract(useridentity.arn, ':user/(?:.*/)?([^/]*)$', 1) WHEN useridentity.type IN ('IAMUser', 'AssumedRole') THEN regexp_extract(CASE WHEN useridentity.type = 'AssumedRole' AND useridentity.sessioncontext.sessionissuer.username <> '' THEN useridentity.sessioncontext.sessionissuer.username WHEN useridentity.username <> '' THEN useridentity.username WHEN strpos(useridentity.arn, '/') > 0 THEN regexp_extract(useridentity.arn, '[^/]*$') WHEN useridentity.arn <> '' THEN useridentity.arn ELSE COALESCE(useridentity.principalid, '') END, '^[^/]*') END, '')), '^(?:[\s\S]*terraform[\s\S]*|[\s\S]*cloudformation[\s\S]*|cdk-[\s\S]*|[\s\S]*deploy[\s\S]*|[\s\S]*pipeline[\s\S]*|[\s\S]*github-actions[\s\S]*|[\s\S]*githubactions[\s\S]*|[\s\S]*gitlab[\s\S]*|[\s\S]*atlantis[\s\S]*|[\s\S]*spacelift[\s\S]*|[\s\S]*codebuild[\s\S]*|[\s\S]*jenkins[\s\S]*|[\s\S]*pulumi[\s\S]*)$')), FALSE))
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  AND ((eventsource = 'ec2.amazonaws.com' AND eventname IN ('AuthorizeSecurityGroupIngress', 'AuthorizeSecurityGroupEgress', 'RevokeSecurityGroupIngress', 'RevokeSecurityGroupEgress', 'CreateSecurityGroup', 'DeleteSecurityGroup', 'ModifySecurityGroupRules', 'CreateNetworkAcl', 'CreateNetworkAclEntry', 'DeleteNetworkAcl', 'DeleteNetworkAclEntry', 'ReplaceNetworkAclEntry', 'ReplaceNetworkAclAssociation', 'CreateCustomerGateway', 'DeleteCustomerGateway', 'AttachInternetGateway', 'CreateInternetGateway', 'DeleteInternetGateway', 'DetachInternetGateway', 'CreateEgressOnlyInternetGateway', 'CreateNatGateway', 'CreateRoute', 'CreateRouteTable', 'ReplaceRoute', 'ReplaceRouteTableAssociation', 'DeleteRouteTable', 'DeleteRoute', 'DisassociateRouteTable', 'CreateVpc', 'DeleteVpc', 'ModifyVpcAttribute', 'AcceptVpcPeeringConnection', 'CreateVpcPeeringConnection', 'DeleteVpcPeeringConnection', 'RejectVpcPeeringConnection', 'AttachClassicLinkVpc', 'DetachClassicLinkVpc', 'DisableVpcClassicLink', 'EnableVpcClassicLink', 'ModifySubnetAttribute', 'AssociateAddress')) OR (eventsource = 'elasticloadbalancing.amazonaws.com' AND eventname IN ('ApplySecurityGroupsToLoadBalancer', 'SetSecurityGroups')) OR (eventsource = 'rds.amazonaws.com' AND eventname IN ('CreateDBSecurityGroup', 'DeleteDBSecurityGroup', 'AuthorizeDBSecurityGroupIngress', 'RevokeDBSecurityGroupIngress')) OR (eventsource = 'redshift.amazonaws.com' AND eventname IN ('CreateClusterSecurityGroup', 'DeleteClusterSecurityGroup', 'AuthorizeClusterSecurityGroupIngress', 'RevokeClusterSecurityGroupIngress')) OR (eventsource = 'elasticache.amazonaws.com' AND eventname IN ('CreateCacheSecurityGroup', 'DeleteCacheSecurityGroup', 'AuthorizeCacheSecurityGroupIngress', 'RevokeCacheSecurityGroupIngress')))
  AND NOT (NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE)) AND ((COALESCE(eventsource = 'ec2.amazonaws.com', FALSE) AND COALESCE(eventname = 'AuthorizeSecurityGroupIngress', FALSE) AND (COALESCE(json_extract_scalar(requestparameters, '$.cidrIp') LIKE '%/0' ESCAPE '\', FALSE) OR COALESCE(json_extract_scalar(requestparameters, '$.cidrIpv6') LIKE '%/0' ESCAPE '\', FALSE)) AND (COALESCE(json_extract_scalar(requestparameters, '$.ipProtocol') = '-1', FALSE) OR COALESCE(json_extract_scalar(requestparameters, '$.fromPort') IN ('21', '22', '23', '135', '139', '445', '1433', '1521', '2375', '2376', '3306', '3389', '5432', '5439', '5601', '5900', '6379', '9200', '9300', '11211', '27017'), FALSE) OR COALESCE(json_extract_scalar(requestparameters, '$.toPort') IN ('21', '22', '23', '135', '139', '445', '1433', '1521', '2375', '2376', '3306', '3389', '5432', '5439', '5601', '5900', '6379', '9200', '9300', '11211', '27017'), FALSE) OR (COALESCE(TRY_CAST(trim(json_extract_scalar(requestparameters, '$.fromPort')) AS DOUBLE) <= 22, FALSE) AND COALESCE(TRY_CAST(trim(json_extract_scalar(requestparameters, '$.toPort')) AS DOUBLE) >= 3389, FALSE)))) OR (COALESCE(eventsource = 'ec2.amazonaws.com', FALSE) AND COALESCE(eventname = 'AuthorizeSecurityGroupIngress', FALSE) AND COALESCE((regexp_like(json_extract_scalar(requestparameters, '$.ipPermissions.items'), '"cidrIp(v6)?":"[^"]*/0"') AND regexp_like(json_extract_scalar(requestparameters, '$.ipPermissions.items'), '"(fromPort|toPort)":(21|22|23|135|139|445|1433|1521|2375|2376|3306|3389|5432|5439|5601|5900|6379|9200|9300|11211|27017)[,}]|"ipProtocol":"-1"|"fromPort":([0-9]|1[0-9]|2[0-2]),.*"toPort":(3389|[4-9][0-9]{3}|[1-6][0-9]{4})[,}]')), FALSE)) OR (COALESCE(eventsource = 'ec2.amazonaws.com', FALSE) AND COALESCE(eventname = 'ModifySecurityGroupRules', FALSE) AND json_extract_scalar(requestparameters, '$.ModifySecurityGroupRulesRequest.SecurityGroupRule.SecurityGroupRule') IS NOT NULL AND COALESCE((regexp_like(json_extract_scalar(requestparameters, '$.ModifySecurityGroupRulesRequest.SecurityGroupRule.SecurityGroupRule'), '"Cidr(Ipv4|Ipv6)":"[^"]*/0"') AND regexp_like(json_extract_scalar(requestparameters, '$.ModifySecurityGroupRulesRequest.SecurityGroupRule.SecurityGroupRule'), '"(FromPort|ToPort)":"?(21|22|23|135|139|445|1433|1521|2375|2376|3306|3389|5432|5439|5601|5900|6379|9200|9300|11211|27017)"?[,}]|"IpProtocol":"-1"|"FromPort":"?([0-9]|1[0-9]|2[0-2])"?,.*"ToPort":"?(3389|[4-9][0-9]{3}|[1-6][0-9]{4})"?[,}]')), FALSE) AND NOT (COALESCE(regexp_like(json_extract_scalar(requestparameters, '$.ModifySecurityGroupRulesRequest.SecurityGroupRule.SecurityGroupRule'), '"IsEgress":"?true'), FALSE))) OR (COALESCE(eventsource = 'rds.amazonaws.com', FALSE) AND COALESCE(eventname = 'AuthorizeDBSecurityGroupIngress', FALSE) AND COALESCE(regexp_like(CASE WHEN requestparameters IS NOT NULL AND requestparameters <> 'null' THEN '' END, '"(?i:cidrip)":"[^"]*/0"'), FALSE)) OR (COALESCE(eventsource = 'redshift.amazonaws.com', FALSE) AND COALESCE(eventname = 'AuthorizeClusterSecurityGroupIngress', FALSE) AND COALESCE(regexp_like(CASE WHEN requestparameters IS NOT NULL AND requestparameters <> 'null' THEN '' END, '"(?i:cidrip)":"[^"]*/0"'), FALSE))))
  AND NOT (COALESCE(eventsource = 'ec2.amazonaws.com', FALSE) AND COALESCE(eventname IN ('CreateNetworkAclEntry', 'ReplaceNetworkAclEntry'), FALSE) AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE)) AND COALESCE(json_extract_scalar(requestparameters, '$.egress') = 'false', FALSE) AND COALESCE(lower(json_extract_scalar(requestparameters, '$.ruleAction')) = 'allow', FALSE) AND (COALESCE(json_extract_scalar(requestparameters, '$.cidrBlock') LIKE '%/0' ESCAPE '\', FALSE) OR COALESCE(json_extract_scalar(requestparameters, '$.ipv6CidrBlock') LIKE '%/0' ESCAPE '\', FALSE)) AND (COALESCE(json_extract_scalar(requestparameters, '$.protocol') IN ('-1', 'all'), FALSE) OR COALESCE(json_extract_scalar(requestparameters, '$.portRange.from') IN ('21', '22', '23', '135', '139', '445', '1433', '1521', '2375', '2376', '3306', '3389', '5432', '5439', '5601', '5900', '6379', '9200', '9300', '11211', '27017'), FALSE) OR COALESCE(json_extract_scalar(requestparameters, '$.portRange.to') IN ('21', '22', '23', '135', '139', '445', '1433', '1521', '2375', '2376', '3306', '3389', '5432', '5439', '5601', '5900', '6379', '9200', '9300', '11211', '27017'), FALSE) OR (COALESCE(TRY_CAST(trim(json_extract_scalar(requestparameters, '$.portRange.from')) AS DOUBLE) <= 22, FALSE) AND COALESCE(TRY_CAST(trim(json_extract_scalar(requestparameters, '$.portRange.to')) AS DOUBLE) >= 3389, FALSE))))

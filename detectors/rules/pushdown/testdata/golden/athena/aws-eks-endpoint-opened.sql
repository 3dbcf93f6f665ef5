-- rule: aws-eks-endpoint-opened
-- status: coarse
-- coarse: requestParameters.resourcesVpcConfig.endpointPublicAccess may hold an array or object
-- coarse: requestParameters.resourcesVpcConfig.publicAccessCidrs may hold an array or object
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource = 'eks.amazonaws.com'
  AND eventname = 'UpdateClusterConfig'
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  AND (json_extract_scalar(requestparameters, '$.resourcesVpcConfig.endpointPublicAccess') = 'true' OR COALESCE(json_array_length(json_extract(requestparameters, '$.resourcesVpcConfig')) IS NOT NULL OR (json_extract(requestparameters, '$.resourcesVpcConfig.endpointPublicAccess') IS NOT NULL AND json_extract_scalar(requestparameters, '$.resourcesVpcConfig.endpointPublicAccess') IS NULL), FALSE))
  AND (json_extract_scalar(requestparameters, '$.resourcesVpcConfig.publicAccessCidrs') IN ('0.0.0.0/0', '::/0') OR COALESCE(json_array_length(json_extract(requestparameters, '$.resourcesVpcConfig')) IS NOT NULL OR (json_extract(requestparameters, '$.resourcesVpcConfig.publicAccessCidrs') IS NOT NULL AND json_extract_scalar(requestparameters, '$.resourcesVpcConfig.publicAccessCidrs') IS NULL), FALSE) OR NOT (json_extract_scalar(requestparameters, '$.resourcesVpcConfig.publicAccessCidrs') IS NOT NULL))

// Durable Batch in Azure: a storage account reached only by identity (where the plan allows), a function app
// with a user-assigned managed identity and the data roles it needs, and Application Insights with
// identity-based ingestion. Flex Consumption by default; `planKind: 'premium'` gives an Elastic Premium plan.
//
//   az deployment group create -g <group> -f infra/main.bicep -p infra/main.parameters.json
//
// Every app setting the app reads is either set here or listed in the README ("Settings the template leaves to
// you"); tests/unit/infra checks that.

targetScope = 'resourceGroup'

@description('A short name the resources are named after (letters and digits).')
@minLength(3)
@maxLength(11)
param appName string

param location string = resourceGroup().location

@description('flex: Flex Consumption (scales per function, pay per use); premium: Elastic Premium (always-ready instances, no time limit).')
@allowed(['flex', 'premium'])
param planKind string = 'flex'

@description('Flex Consumption: the most instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Flex Consumption: memory per instance (2048 is 1 vCPU-ish; 4096 for CPU- or memory-heavy tasks).')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('The Python version the app runs on (tested on each: see the README).')
@allowed(['3.11', '3.12', '3.13'])
param pythonVersion string = '3.11'

@description('Premium: the plan size (EP1 1 core, EP2 2 cores, EP3 4 cores).')
@allowed(['EP1', 'EP2', 'EP3'])
param premiumSku string = 'EP1'

@description('Premium: the most instances the plan scales out to.')
@minValue(1)
@maxValue(100)
param premiumMaximumInstances int = 20

@description('Premium: worker processes per instance (one per core uses every core for CPU-bound handlers).')
@minValue(1)
@maxValue(10)
param workerProcessCount int = 1

@description('The container job results go to.')
param resultsContainer string = 'batch-results'

var suffix = uniqueString(resourceGroup().id, appName)
var storageName = toLower('st${appName}${suffix}')
var deploymentContainer = 'app-package'
var isFlex = planKind == 'flex'
// Azure Files (the Premium plan's content share) has no identity-based access for Functions, so only the Flex
// plan can turn shared keys off; on Premium the key serves the content share alone, never the app's own clients.
var allowSharedKeys = !isFlex

var roles = {
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${appName}-${suffix}'
  location: location
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: take(storageName, 24)
  location: location
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    allowSharedKeyAccess: allowSharedKeys
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = if (isFlex) {
  parent: blobService
  name: deploymentContainer
}

resource results 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: resultsContainer
}

// The Durable extension keeps its queues, tables and blobs in this account; the app keeps its records and
// results there too. Blob Data Owner (not Contributor): the host manages blob leases and the deployment package.
resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in [roles.blobDataOwner, roles.queueDataContributor, roles.tableDataContributor]: {
    name: guid(storage.id, identity.id, role)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: identity.properties.principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${appName}-${suffix}'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${appName}-${suffix}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    // Ingestion only with an Entra ID token (the identity below), never with the connection string alone.
    DisableLocalAuth: true
  }
}

resource insightsRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${appName}-${suffix}'
  location: location
  kind: isFlex ? 'functionapp' : 'elastic'
  sku: isFlex ? { name: 'FC1', tier: 'FlexConsumption' } : { name: premiumSku, tier: 'ElasticPremium' }
  properties: {
    reserved: true
    maximumElasticWorkerCount: isFlex ? null : premiumMaximumInstances
  }
}

// The settings both plans get: the app's storage through the identity, telemetry, and the batch defaults.
var commonSettings = [
  { name: 'AzureWebJobsStorage__accountName', value: storage.name }
  { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
  { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.properties.clientId};Authorization=AAD' }
  { name: 'PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY', value: 'true' }
  { name: 'BATCH_RESULTS_CONTAINER', value: resultsContainer }
  { name: 'BATCH_ALLOW_COMMAND_TASKS', value: 'false' }
]

// Premium runs the classic Functions host settings; Flex Consumption refuses them (its runtime and scale are
// in functionAppConfig) and has no content share.
var premiumSettings = [
  { name: 'FUNCTIONS_EXTENSION_VERSION', value: '~4' }
  { name: 'FUNCTIONS_WORKER_RUNTIME', value: 'python' }
  { name: 'FUNCTIONS_WORKER_PROCESS_COUNT', value: string(workerProcessCount) }
  { name: 'PYTHON_THREADPOOL_THREAD_COUNT', value: '16' }
  { name: 'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING', value: isFlex ? '' : 'DefaultEndpointsProtocol=https;AccountName=${storage.name};AccountKey=${storage.listKeys().keys[0].value};EndpointSuffix=${environment().suffixes.storage}' }
  { name: 'WEBSITE_CONTENTSHARE', value: toLower('${appName}-${suffix}') }
  { name: 'SCM_DO_BUILD_DURING_DEPLOYMENT', value: 'true' }
]

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: 'func-${appName}-${suffix}'
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    functionAppConfig: isFlex
      ? {
          deployment: {
            storage: {
              type: 'blobContainer'
              value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
              authentication: {
                type: 'UserAssignedIdentity'
                userAssignedIdentityResourceId: identity.id
              }
            }
          }
          scaleAndConcurrency: {
            maximumInstanceCount: maximumInstanceCount
            instanceMemoryMB: instanceMemoryMB
          }
          runtime: { name: 'python', version: pythonVersion }
        }
      : null
    siteConfig: {
      linuxFxVersion: isFlex ? null : 'Python|${pythonVersion}'
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: isFlex ? commonSettings : concat(commonSettings, premiumSettings)
    }
  }
  dependsOn: [storageRoles, insightsRole, packageContainer]
}

output functionAppName string = app.name
output functionAppUrl string = 'https://${app.properties.defaultHostName}'
output storageAccountName string = storage.name
output identityClientId string = identity.properties.clientId
output applicationInsightsName string = insights.name

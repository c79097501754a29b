/*
 * The Vulkan devices this machine offers, by name and type, so the engine
 * can tell a hardware GPU from a software rasteriser (SwiftShader, llvmpipe)
 * before it picks the WebGPU provider (runtime/provider.ts): ONNX Runtime
 * runs WebGPU through Dawn on Vulkan, and tells neither which adapter Dawn
 * took nor whether it is a GPU.
 *
 * The loader (libvulkan.so.1) is opened at call time, so the addon loads and
 * answers "none" on a machine without it. Only the few Vulkan declarations
 * needed are written here, so no Vulkan headers are needed to build.
 */
#define _POSIX_C_SOURCE 200809L /* strnlen under -std=c11 */
#include <dlfcn.h>
#include <node_api.h>
#include <stdint.h>
#include <string.h>

typedef void *VkInstance;
typedef void *VkPhysicalDevice;
typedef int32_t VkResult;
typedef void (*PFN_vkVoidFunction)(void);
typedef PFN_vkVoidFunction (*PFN_vkGetInstanceProcAddr)(VkInstance, const char *);

typedef struct {
  int32_t sType; /* VK_STRUCTURE_TYPE_APPLICATION_INFO = 0 */
  const void *pNext;
  const char *pApplicationName;
  uint32_t applicationVersion;
  const char *pEngineName;
  uint32_t engineVersion;
  uint32_t apiVersion;
} VkApplicationInfo;

typedef struct {
  int32_t sType; /* VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO = 1 */
  const void *pNext;
  uint32_t flags;
  const VkApplicationInfo *pApplicationInfo;
  uint32_t enabledLayerCount;
  const char *const *ppEnabledLayerNames;
  uint32_t enabledExtensionCount;
  const char *const *ppEnabledExtensionNames;
} VkInstanceCreateInfo;

/* The head of VkPhysicalDeviceProperties; the rest (limits, sparse properties) fits in the buffer below. */
typedef struct {
  uint32_t apiVersion;
  uint32_t driverVersion;
  uint32_t vendorID;
  uint32_t deviceID;
  int32_t deviceType;
  char deviceName[256];
} DevicePropertiesHead;

typedef VkResult (*PFN_vkCreateInstance)(const VkInstanceCreateInfo *, const void *, VkInstance *);
typedef void (*PFN_vkDestroyInstance)(VkInstance, const void *);
typedef VkResult (*PFN_vkEnumeratePhysicalDevices)(VkInstance, uint32_t *, VkPhysicalDevice *);
typedef void (*PFN_vkGetPhysicalDeviceProperties)(VkPhysicalDevice, void *);

#define MAX_DEVICES 16
/* VkPhysicalDeviceType: OTHER, INTEGRATED_GPU, DISCRETE_GPU, VIRTUAL_GPU, CPU */
static const char *const TYPES[] = {"other", "integrated", "discrete", "virtual", "cpu"};

static napi_value adapters_js(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value list;
  napi_create_array(env, &list);
  void *loader = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!loader) return list;
  PFN_vkGetInstanceProcAddr getProc = (PFN_vkGetInstanceProcAddr)dlsym(loader, "vkGetInstanceProcAddr");
  PFN_vkCreateInstance create = getProc ? (PFN_vkCreateInstance)getProc(NULL, "vkCreateInstance") : NULL;
  VkInstance instance = NULL;
  VkApplicationInfo app = {0, NULL, "frc", 1, "frc", 1, (1u << 22) | (1u << 12)}; /* Vulkan 1.1 */
  VkInstanceCreateInfo create_info = {1, NULL, 0, &app, 0, NULL, 0, NULL};
  if (create && create(&create_info, NULL, &instance) == 0) {
    PFN_vkEnumeratePhysicalDevices enumerate = (PFN_vkEnumeratePhysicalDevices)getProc(instance, "vkEnumeratePhysicalDevices");
    PFN_vkGetPhysicalDeviceProperties properties = (PFN_vkGetPhysicalDeviceProperties)getProc(instance, "vkGetPhysicalDeviceProperties");
    PFN_vkDestroyInstance destroy = (PFN_vkDestroyInstance)getProc(instance, "vkDestroyInstance");
    VkPhysicalDevice devices[MAX_DEVICES];
    uint32_t count = MAX_DEVICES;
    VkResult listed = enumerate ? enumerate(instance, &count, devices) : -1;
    if (properties && (listed == 0 || listed == 5 /* VK_INCOMPLETE */)) {
      for (uint32_t i = 0; i < count; i++) {
        _Alignas(16) unsigned char buffer[4096]; /* > sizeof(VkPhysicalDeviceProperties), 824 bytes */
        memset(buffer, 0, sizeof buffer);
        properties(devices[i], buffer);
        const DevicePropertiesHead *head = (const DevicePropertiesHead *)buffer;
        napi_value device, name, type;
        napi_create_object(env, &device);
        napi_create_string_utf8(env, head->deviceName, strnlen(head->deviceName, sizeof head->deviceName), &name);
        const char *type_name = head->deviceType >= 0 && head->deviceType <= 4 ? TYPES[head->deviceType] : "other";
        napi_create_string_utf8(env, type_name, NAPI_AUTO_LENGTH, &type);
        napi_set_named_property(env, device, "name", name);
        napi_set_named_property(env, device, "type", type);
        napi_set_element(env, list, i, device);
      }
    }
    if (destroy) destroy(instance, NULL);
  }
  /* The loader stays open: ICDs may keep threads that unloading would pull code from under. */
  return list;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "adapters", NAPI_AUTO_LENGTH, adapters_js, NULL, &fn);
  napi_set_named_property(env, exports, "adapters", fn);
  return exports;
}

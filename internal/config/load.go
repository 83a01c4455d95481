package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/mitchellh/mapstructure"
	"github.com/spf13/viper"
)

// EnvPrefix starts every environment variable that overrides a setting:
// CHATRELAY_BROKER_MODE overrides broker.mode.
const EnvPrefix = "CHATRELAY"

// Load reads the file at path (none when path is ""), applies environment
// overrides and defaults, and validates the result. A path that does not
// exist is an error; an empty path means defaults plus environment.
func Load(path string) (Config, error) {
	v := viper.New()
	setDefaults(v)
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	}
	var c Config
	hook := mapstructure.ComposeDecodeHookFunc(
		stringToMapHook,
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
	)
	if err := v.Unmarshal(&c, viper.DecodeHook(hook)); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// LoadDefault loads path when given, otherwise ./config.yaml when it
// exists, otherwise defaults alone.
func LoadDefault(path string) (Config, error) {
	if path == "" {
		if _, err := os.Stat("config.yaml"); err == nil {
			path = "config.yaml"
		} else if !errors.Is(err, os.ErrNotExist) {
			return Config{}, err
		}
	}
	return Load(path)
}

// stringToMapHook lets an environment variable carry a map as
// "alice=secret,bob=pw" (auth.users).
func stringToMapHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Map {
		return data, nil
	}
	out := map[string]string{}
	for _, pair := range strings.Split(data.(string), ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		k, val, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not key=value", pair)
		}
		out[k] = val
	}
	return out, nil
}

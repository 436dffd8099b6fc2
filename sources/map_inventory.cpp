#include <iostream>
#include <map>
#include <string>

void printInventory(const std::map<std::string, int>& inventory) {
    std::cout << "Inventory:";
    for (const auto& item : inventory) {
        std::cout << " " << item.first << "=" << item.second;
    }
    std::cout << std::endl;
}

void lookup(const std::map<std::string, int>& inventory, const std::string& name) {
    auto it = inventory.find(name);
    if (it == inventory.end()) {
        std::cout << name << " is not in stock" << std::endl;
    } else {
        std::cout << name << " has " << it->second << " units" << std::endl;
    }
}

int main() {
    std::map<std::string, int> inventory = {{"pears", 12}, {"apples", 30}, {"plums", 5}};
    printInventory(inventory);
    inventory["apples"] -= 10;
    inventory["kiwis"] = 7;
    inventory.erase("plums");
    printInventory(inventory);
    lookup(inventory, "kiwis");
    lookup(inventory, "plums");
    return 0;
}
